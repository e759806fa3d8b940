// What `tracer top` reads from the host itself rather than from the agent:
// a cgroup's memory use and pids (the cgroup's files), its CPU limit and how
// often the limit held it back (the cpu controller's files), and the
// processes in it with their CPU use (cgroup.procs, /proc/<pid>/comm and stat).
#pragma once

#include "containers/cgroup_layout.h"
#include "top/view_model.h"

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracer::top {

struct ProcessRow {
    pid_t pid = 0;
    std::string command;
    double cpu_percent = 0;  // since the previous call; 0 the first time a pid is seen
    std::string cgroup;      // relative to the hierarchy root
};

class CgroupFiles {
public:
    // `mount_point`: where the hierarchy the agent keys on is mounted (cgroup
    // paths are relative to it); `proc_root`: /proc, or <host root>/proc;
    // `cpu`: the cpu controller's hierarchy (v1, or cgroup2), if any;
    // `unified`: cgroup2's, if mounted (pressure stall information).
    CgroupFiles(std::string mount_point, std::string proc_root = "/proc",
                std::optional<containers::CgroupMount> cpu = std::nullopt,
                std::optional<containers::CgroupMount> unified = std::nullopt);

    // Memory use and process count of these cgroups (each once: a cgroup
    // nested in another of the list is already counted by its parent), their
    // memory limit (the sum of the outermost ones', when each has one), their
    // CPU limit (the sum of the outermost ones' CFS quotas, when each has
    // one) and its throttling counters, and their pressure stall totals.
    CgroupFacts facts(const std::vector<std::string>& cgroups) const;

    // The processes of these cgroups and their sub-cgroups, busiest first.
    std::vector<ProcessRow> processes(const std::vector<std::string>& cgroups);

    const std::string& mount_point() const { return mount_point_; }

private:
    std::vector<std::pair<pid_t, std::string>> pids_of(const std::vector<std::string>& cgroups) const;

    // A cgroup's directory in the hierarchy `m`: the same path there (as
    // container runtimes and systemd lay them out), else the path one of its
    // processes has there; "" when neither.
    std::string dir_of(const containers::CgroupMount& m, const std::string& cgroup) const;

    std::string mount_point_, proc_root_;
    std::optional<containers::CgroupMount> cpu_, unified_;
    struct Ticks {
        unsigned long long ticks = 0;
        double at = 0;
    };
    std::map<pid_t, Ticks> last_;
};

// The cgroups of the list that are not inside another one of it.
std::vector<std::string> outermost(std::vector<std::string> cgroups);

// One cgroup directory's CFS quota in CPUs (v1 cpu.cfs_quota_us and
// cpu.cfs_period_us, or cgroup2's cpu.max); none when unlimited or unreadable.
std::optional<double> cpu_limit_of(const std::string& dir);
// One cgroup directory's memory limit in bytes (v1 memory.limit_in_bytes,
// or cgroup2's memory.max); none when unlimited or unreadable.
std::optional<double> memory_limit_of(const std::string& dir);
// Its cpu.stat throttling counters (v1 throttled_time in ns, cgroup2 throttled_usec).
std::optional<CpuThrottling> cpu_throttling_of(const std::string& dir);

// Reads cgroup v2's pressure files in `dir`: the cumulative stall times.
std::optional<Pressure> pressure_of(const std::string& dir);

// The cgroup mounts of `mountinfo` under `under` (the host's, under a host
// root); empty when it cannot be read.
containers::CgroupLayout cgroup_layout_under(const std::string& mountinfo, const std::string& under = "");
// Where the cpu controller is: its v1 hierarchy, else cgroup2; none when neither is.
std::optional<containers::CgroupMount> cpu_controller_mount(const containers::CgroupLayout& layout);

}  // namespace tracer::top
