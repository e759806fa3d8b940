// Which cgroup hierarchies this host has (v2, v1, hybrid) and which one keys
// per-cgroup data in the BPF programs. Decided once at start-up.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tracer::containers {

struct CgroupMount {
    std::string mount_point;               // /sys/fs/cgroup/memory
    std::string root;                      // the mount's root within the hierarchy ("/" on the host)
    bool v2 = false;                       // cgroup2 (unified) vs v1
    std::vector<std::string> controllers;  // v1: "memory", "cpu", ...; name=systemd -> "name=systemd"
};

struct CgroupLayout {
    std::vector<CgroupMount> mounts;

    const CgroupMount* unified() const;
    const CgroupMount* v1_controller(const std::string& controller) const;
    bool has_v1() const;
    // "cgroup v2", "cgroup v1" or "hybrid (cgroup v1 + v2)"
    std::string describe() const;
};

// Parses a mountinfo file (/proc/self/mountinfo). Only mounts whose mount point
// lies under `under` are kept ("" = all): with a host root of /host, only the
// host's cgroupfs mounts under /host count.
CgroupLayout read_cgroup_layout(const std::string& mountinfo_path, const std::string& under = "");

// How the BPF programs compute the cgroup key (bpf/cgroup_abi.h) and where that
// hierarchy is mounted, so keys can be mapped back to paths.
struct CgroupKeying {
    uint32_t mode = 0;              // enum cgroup_key_mode
    uint32_t v1_subsys_id = 0;      // with CGROUP_KEY_V1_SUBSYS: index into css_set->subsys[]
    std::string hierarchy;          // "unified" or the v1 controller ("memory")
    std::string mount_point;        // where that hierarchy is mounted
    std::string mount_root = "/";   // the mount's root within the hierarchy
    std::string describe() const;   // for the start-up log line
};

class CgroupLayoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Chooses the hierarchy: `wanted` is "auto", "unified" or a v1 controller name.
// auto: unified on a pure v2 host; otherwise the first mounted of memory, cpu,
// cpuacct, pids, blkio (containers are told apart there on v1 and hybrid hosts).
// `proc_cgroups` (/proc/cgroups) lists controllers in kernel subsystem-id order,
// which gives the v1 controller's index. Throws CgroupLayoutError with a fix.
CgroupKeying choose_cgroup_keying(const CgroupLayout& layout, const std::string& wanted,
                                  const std::string& proc_cgroups);

// 0-based index of `controller` in /proc/cgroups, i.e. its cgroup_subsys_id; -1 if absent.
int subsys_id_of(const std::string& proc_cgroups_path, const std::string& controller);

}  // namespace tracer::containers
