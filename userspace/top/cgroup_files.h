// What `tracer top` reads from the host itself rather than from the agent:
// a cgroup's memory use and pids (the cgroup's files), and the processes in
// it with their CPU use (cgroup.procs, /proc/<pid>/comm and stat).
#pragma once

#include "top/view_model.h"

#include <sys/types.h>

#include <map>
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
    // paths are relative to it); `proc_root`: /proc, or <host root>/proc.
    CgroupFiles(std::string mount_point, std::string proc_root = "/proc");

    // Memory use and process count of these cgroups (each once: a cgroup
    // nested in another of the list is already counted by its parent).
    CgroupFacts facts(const std::vector<std::string>& cgroups) const;

    // The processes of these cgroups and their sub-cgroups, busiest first.
    std::vector<ProcessRow> processes(const std::vector<std::string>& cgroups);

    const std::string& mount_point() const { return mount_point_; }

private:
    std::vector<std::pair<pid_t, std::string>> pids_of(const std::vector<std::string>& cgroups) const;

    std::string mount_point_, proc_root_;
    struct Ticks {
        unsigned long long ticks = 0;
        double at = 0;
    };
    std::map<pid_t, Ticks> last_;
};

// The cgroups of the list that are not inside another one of it.
std::vector<std::string> outermost(std::vector<std::string> cgroups);

}  // namespace tracer::top
