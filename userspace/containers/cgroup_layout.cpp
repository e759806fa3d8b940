#include "containers/cgroup_layout.h"

#include "bpf/cgroup_abi.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tracer::containers {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo
std::string unescape_mountinfo(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() &&
            std::all_of(s.begin() + i + 1, s.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; })) {
            out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep)) parts.push_back(item);
    return parts;
}

bool under_prefix(const std::string& path, const std::string& prefix) {
    if (prefix.empty() || prefix == "/") return true;
    return path == prefix || (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
                              path[prefix.size()] == '/');
}

}  // namespace

const CgroupMount* CgroupLayout::unified() const {
    for (const auto& m : mounts)
        if (m.v2) return &m;
    return nullptr;
}

const CgroupMount* CgroupLayout::v1_controller(const std::string& controller) const {
    for (const auto& m : mounts)
        if (!m.v2 && std::find(m.controllers.begin(), m.controllers.end(), controller) != m.controllers.end())
            return &m;
    return nullptr;
}

bool CgroupLayout::has_v1() const {
    return std::any_of(mounts.begin(), mounts.end(), [](const CgroupMount& m) { return !m.v2; });
}

std::string CgroupLayout::describe() const {
    bool v2 = unified() != nullptr, v1 = has_v1();
    if (v2 && v1) return "hybrid (cgroup v1 + v2)";
    if (v2) return "cgroup v2";
    if (v1) return "cgroup v1";
    return "no cgroup filesystem";
}

CgroupLayout read_cgroup_layout(const std::string& mountinfo_path, const std::string& under) {
    std::ifstream in(mountinfo_path);
    if (!in) throw CgroupLayoutError("cannot read " + mountinfo_path + " to find the cgroup mounts");
    CgroupLayout layout;
    std::string line;
    while (std::getline(in, line)) {
        // id parent maj:min root mount-point options [optional...] - fstype source super-options
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        auto pre = split(line.substr(0, dash), ' ');
        auto post = split(line.substr(dash + 3), ' ');
        if (pre.size() < 5 || post.size() < 3) continue;
        const std::string& fstype = post[0];
        if (fstype != "cgroup" && fstype != "cgroup2") continue;
        CgroupMount m;
        m.root = unescape_mountinfo(pre[3]);
        m.mount_point = unescape_mountinfo(pre[4]);
        m.v2 = fstype == "cgroup2";
        if (!under_prefix(m.mount_point, under)) continue;
        if (!m.v2) {
            for (const auto& opt : split(post[2], ',')) {
                if (opt == "rw" || opt == "ro" || opt.empty() || opt.rfind("release_agent", 0) == 0 ||
                    opt == "clone_children" || opt == "noprefix" || opt == "xattr" || opt == "cpuset_v2_mode")
                    continue;
                m.controllers.push_back(opt);
            }
        }
        // the same hierarchy can be mounted twice (bind mounts): keep the first
        bool dup = std::any_of(layout.mounts.begin(), layout.mounts.end(), [&](const CgroupMount& o) {
            return o.v2 == m.v2 && o.controllers == m.controllers;
        });
        if (!dup) layout.mounts.push_back(std::move(m));
    }
    return layout;
}

int subsys_id_of(const std::string& proc_cgroups_path, const std::string& controller) {
    std::ifstream in(proc_cgroups_path);
    std::string line;
    int index = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string name;
        fields >> name;
        if (name == controller) return index;
        ++index;
    }
    return -1;
}

std::string CgroupKeying::describe() const {
    if (mode == CGROUP_KEY_DEFAULT) return "cgroup v2 hierarchy at " + mount_point;
    return "cgroup v1 '" + hierarchy + "' hierarchy at " + mount_point + " (subsystem id " +
           std::to_string(v1_subsys_id) + ")";
}

CgroupKeying choose_cgroup_keying(const CgroupLayout& layout, const std::string& wanted,
                                  const std::string& proc_cgroups) {
    auto use_unified = [&](const CgroupMount& m) {
        CgroupKeying k;
        k.mode = CGROUP_KEY_DEFAULT;
        k.hierarchy = "unified";
        k.mount_point = m.mount_point;
        k.mount_root = m.root;
        return k;
    };
    auto use_v1 = [&](const std::string& controller, const CgroupMount& m) {
        int id = subsys_id_of(proc_cgroups, controller);
        if (id < 0)
            throw CgroupLayoutError("cgroup controller '" + controller + "' is mounted but not listed in " +
                                    proc_cgroups);
        if (id >= 16)
            throw CgroupLayoutError("cgroup controller '" + controller + "' has subsystem id " +
                                    std::to_string(id) + ", beyond what tracer supports (15)");
        CgroupKeying k;
        k.mode = CGROUP_KEY_V1_SUBSYS;
        k.v1_subsys_id = static_cast<uint32_t>(id);
        k.hierarchy = controller;
        k.mount_point = m.mount_point;
        k.mount_root = m.root;
        return k;
    };

    if (wanted == "unified") {
        if (const auto* m = layout.unified()) return use_unified(*m);
        throw CgroupLayoutError(
            "cgroup_hierarchy is 'unified' but no cgroup2 filesystem is mounted (mount -t cgroup2 none "
            "/sys/fs/cgroup/unified, or set cgroup_hierarchy: auto)");
    }
    if (wanted != "auto") {
        if (const auto* m = layout.v1_controller(wanted)) return use_v1(wanted, *m);
        throw CgroupLayoutError("cgroup_hierarchy is '" + wanted + "' but no cgroup v1 hierarchy with that "
                                "controller is mounted (host layout: " + layout.describe() +
                                "; set cgroup_hierarchy: auto)");
    }
    if (!layout.has_v1()) {
        if (const auto* m = layout.unified()) return use_unified(*m);
        throw CgroupLayoutError("no cgroup filesystem is mounted (looked in /proc/self/mountinfo); mount "
                                "cgroup2 at /sys/fs/cgroup");
    }
    for (const char* c : {"memory", "cpu", "cpuacct", "pids", "blkio"})
        if (const auto* m = layout.v1_controller(c)) return use_v1(c, *m);
    if (const auto* m = layout.unified()) return use_unified(*m);
    throw CgroupLayoutError("no usable cgroup hierarchy: mount a cgroup v1 controller (memory, cpu, pids) "
                            "or cgroup2");
}

}  // namespace tracer::containers
