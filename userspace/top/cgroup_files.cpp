#include "top/cgroup_files.h"

#include "collectors/container/cgroup_stats.h"
#include "collectors/file_text.h"
#include "containers/cgroup_layout.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace tracer::top {
namespace {

std::optional<double> read_number(const std::string& path) {
    std::ifstream in(path);
    double v = 0;
    if (in >> v) return v;
    return std::nullopt;
}

double now_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Walks `dir` and its sub-cgroups, appending every pid of cgroup.procs.
void collect_pids(const std::string& dir, const std::string& relative,
                  std::vector<std::pair<pid_t, std::string>>& out, int depth) {
    std::ifstream procs(dir + "/cgroup.procs");
    long pid = 0;
    while (procs >> pid) out.emplace_back(pid_t(pid), relative);
    if (depth > 16) return;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    while (auto* e = ::readdir(d)) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        std::string name = e->d_name;
        collect_pids(dir + "/" + name, relative == "/" ? "/" + name : relative + "/" + name, out, depth + 1);
    }
    ::closedir(d);
}

}  // namespace

std::optional<double> cpu_limit_of(const std::string& dir) {
    std::ifstream max(dir + "/cpu.max");  // cgroup2: "<quota> <period>" or "max <period>"
    std::string quota;
    double period = 0;
    if (max >> quota >> period) {
        if (quota == "max" || period <= 0) return std::nullopt;
        try {
            return std::stod(quota) / period;
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    auto q = read_number(dir + "/cpu.cfs_quota_us"), p = read_number(dir + "/cpu.cfs_period_us");  // v1: -1 unlimited
    if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
    return *q / *p;
}

std::optional<double> memory_limit_of(const std::string& dir) {
    // (the container plugin's parsing: "max", and v1's "no limit" near 2^63, are none)
    std::vector<std::string> unused;
    for (const char* file : {"/memory.max", "/memory.limit_in_bytes"})  // cgroup2, v1
        if (auto text = collectors::read_file_text(dir + file); !text.empty())
            return collectors::parse_limit(text, dir + file, unused);
    return std::nullopt;
}

std::optional<CpuThrottling> cpu_throttling_of(const std::string& dir) {
    std::vector<std::string> unused;
    auto stat = collectors::parse_key_values(collectors::read_file_text(dir + "/cpu.stat"), dir + "/cpu.stat", unused);
    auto at = [&](const char* key) {
        auto it = stat.find(key);
        return it == stat.end() ? 0.0 : it->second;
    };
    if (!stat.count("nr_periods")) return std::nullopt;
    return CpuThrottling{at("nr_periods"), at("nr_throttled"),
                         stat.count("throttled_usec") ? at("throttled_usec") / 1e6 : at("throttled_time") / 1e9};
}

std::optional<Pressure> pressure_of(const std::string& dir) {
    std::vector<std::string> unused;
    auto p = collectors::read_pressure_stalls(dir, unused);  // (the container plugin's reading)
    if (!p.cpu_partial_ns && !p.memory_partial_ns && !p.memory_full_ns && !p.io_partial_ns && !p.io_full_ns)
        return std::nullopt;  // no PSI here
    auto seconds = [](const std::optional<double>& ns) { return ns.value_or(0) / 1e9; };
    return Pressure{seconds(p.cpu_partial_ns), seconds(p.memory_partial_ns), seconds(p.memory_full_ns),
                    seconds(p.io_partial_ns), seconds(p.io_full_ns)};
}

containers::CgroupLayout cgroup_layout_under(const std::string& mountinfo, const std::string& under) {
    try {
        return containers::read_cgroup_layout(mountinfo, under);
    } catch (const std::exception&) {
        return {};
    }
}

std::optional<containers::CgroupMount> cpu_controller_mount(const containers::CgroupLayout& layout) {
    if (const auto* v1 = layout.v1_controller("cpu")) return *v1;
    if (const auto* v2 = layout.unified()) return *v2;
    return std::nullopt;
}

std::vector<std::string> outermost(std::vector<std::string> cgroups) {
    std::sort(cgroups.begin(), cgroups.end());
    std::vector<std::string> out;
    for (const auto& c : cgroups) {
        if (c.empty() || c.front() != '/') continue;  // <overflow>, <unresolved>
        bool inside = std::any_of(out.begin(), out.end(), [&](const std::string& p) {
            return p == "/" || p == c || (c.size() > p.size() && c.compare(0, p.size(), p) == 0 && c[p.size()] == '/');
        });
        if (!inside) out.push_back(c);
    }
    return out;
}

CgroupFiles::CgroupFiles(std::string mount_point, std::string proc_root, std::optional<containers::CgroupMount> cpu,
                         std::optional<containers::CgroupMount> unified)
    : mount_point_(std::move(mount_point)), proc_root_(std::move(proc_root)), cpu_(std::move(cpu)),
      unified_(std::move(unified)) {}

std::string CgroupFiles::dir_of(const containers::CgroupMount& m, const std::string& cgroup) const {
    const std::string same = m.mount_point + (cgroup == "/" ? "" : cgroup);
    if (::access(same.c_str(), F_OK) == 0) return same;
    std::ifstream procs(mount_point_ + (cgroup == "/" ? "" : cgroup) + "/cgroup.procs");
    long pid = 0;
    if (!(procs >> pid)) return "";
    // /proc/<pid>/cgroup: "<id>:<controllers>:<path>", cgroup2's "0::<path>"
    std::ifstream lines(proc_root_ + "/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(lines, line);) {
        auto first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",";
        // (a v1 hierarchy: the line naming one of its controllers)
        bool match = m.v2 ? controllers == ",," : !m.controllers.empty() &&
                                                       controllers.find("," + m.controllers[0] + ",") != std::string::npos;
        if (!match) continue;
        std::string path = line.substr(second + 1);
        // (a mount of a sub-tree: paths below its root only)
        if (m.root != "/" && path.rfind(m.root, 0) != 0) return "";
        if (m.root != "/") path = path.substr(m.root.size());
        return m.mount_point + (path == "/" ? "" : path);
    }
    return "";
}

CgroupFacts CgroupFiles::facts(const std::vector<std::string>& cgroups) const {
    CgroupFacts f;
    if (mount_point_.empty()) return f;
    const auto outer = outermost(cgroups);
    bool each_limited = true;
    double memory_limit = 0;
    for (const auto& c : outer) {
        std::string dir = mount_point_ + (c == "/" ? "" : c);
        // v1 memory controller, else cgroup v2's memory.current (if the controller is on).
        auto mem = read_number(dir + "/memory.usage_in_bytes");
        if (!mem) mem = read_number(dir + "/memory.current");
        if (mem) f.memory_bytes = f.memory_bytes.value_or(0) + *mem;
        auto limit = memory_limit_of(dir);
        each_limited = each_limited && limit;
        if (limit) memory_limit += *limit;
    }
    if (each_limited && f.memory_bytes) f.memory_limit = memory_limit;
    auto pids = pids_of(cgroups);
    if (!cgroups.empty() && ::access(mount_point_.c_str(), R_OK) == 0) f.pids = double(pids.size());
    if (unified_) {
        // Stall times of the outermost cgroups, summed (one cgroup: exact).
        Pressure total;
        bool any = false;
        for (const auto& c : outer) {
            std::string dir = dir_of(*unified_, c);
            auto p = dir.empty() ? std::nullopt : pressure_of(dir);
            if (!p) continue;
            any = true;
            total.cpu_some += p->cpu_some;
            total.memory_some += p->memory_some;
            total.memory_full += p->memory_full;
            total.io_some += p->io_some;
            total.io_full += p->io_full;
        }
        if (any) f.pressure = total;
    }
    if (!cpu_) return f;
    // Limited only if each outermost cgroup is (one unlimited part: the whole is).
    double limit = 0;
    CpuThrottling throttling;
    bool limited = false;
    for (const auto& c : outer) {
        std::string dir = dir_of(*cpu_, c);
        if (dir.empty()) return f;
        auto l = cpu_limit_of(dir);
        auto t = cpu_throttling_of(dir);
        if (!l || !t) return f;
        limited = true;
        limit += *l;
        throttling.periods += t->periods;
        throttling.throttled_periods += t->throttled_periods;
        throttling.throttled_seconds += t->throttled_seconds;
    }
    if (limited) {
        f.cpu_limit = limit;
        f.throttling = throttling;
    }
    return f;
}

std::vector<std::pair<pid_t, std::string>> CgroupFiles::pids_of(const std::vector<std::string>& cgroups) const {
    std::vector<std::pair<pid_t, std::string>> out;
    for (const auto& c : outermost(cgroups)) collect_pids(mount_point_ + (c == "/" ? "" : c), c, out, 0);
    return out;
}

std::vector<ProcessRow> CgroupFiles::processes(const std::vector<std::string>& cgroups) {
    std::vector<ProcessRow> rows;
    const double ticks_per_s = double(::sysconf(_SC_CLK_TCK));
    const double now = now_seconds();
    std::map<pid_t, Ticks> seen;
    for (const auto& [pid, cgroup] : pids_of(cgroups)) {
        std::string base = proc_root_ + "/" + std::to_string(pid);
        ProcessRow r;
        r.pid = pid;
        r.cgroup = cgroup;
        std::ifstream comm(base + "/comm");
        if (!std::getline(comm, r.command)) continue;  // exited meanwhile
        std::ifstream stat(base + "/stat");
        std::string line;
        std::getline(stat, line);
        // utime and stime are fields 14 and 15; the command (2) may hold spaces: count after ')'.
        auto close = line.rfind(')');
        unsigned long long utime = 0, stime = 0;
        if (close != std::string::npos) {
            std::istringstream rest(line.substr(close + 2));
            std::string field;
            for (int i = 3; i <= 13 && rest >> field; ++i) {
            }
            rest >> utime >> stime;
        }
        Ticks t{utime + stime, now};
        if (auto it = last_.find(pid); it != last_.end() && now > it->second.at && t.ticks >= it->second.ticks)
            r.cpu_percent = double(t.ticks - it->second.ticks) / ticks_per_s / (now - it->second.at) * 100;
        seen[pid] = t;
        rows.push_back(std::move(r));
    }
    last_ = std::move(seen);
    std::sort(rows.begin(), rows.end(), [](const ProcessRow& a, const ProcessRow& b) {
        return a.cpu_percent != b.cpu_percent ? a.cpu_percent > b.cpu_percent : a.pid < b.pid;
    });
    return rows;
}

}  // namespace tracer::top
