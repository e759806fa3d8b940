// One container's figures from its cgroup files, cgroup v1 or v2 alike: each
// controller's files are read from its v1 hierarchy when one is mounted,
// else from the unified (v2) hierarchy. A figure whose controller or file is
// missing stays empty; a file that is there but cannot be used (a malformed
// line) is one problem naming the file and line, and its other lines count.
#pragma once

#include "containers/cgroup_layout.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracer::collectors {

struct CgroupStats {
    // memory
    std::optional<double> memory_usage, memory_limit, memory_rss, memory_cache, memory_working_set;
    std::optional<double> page_faults, major_page_faults, oom_kills;  // cumulative
    // cpu bandwidth (CFS quota): cumulative
    std::optional<double> cpu_periods, cpu_throttled_periods, cpu_throttled_ns;
    // block I/O, summed over devices: cumulative
    std::optional<double> io_read_bytes, io_write_bytes, io_read_ops, io_write_ops;
    // pids
    std::optional<double> pids, pids_limit;
    // pressure stall information (cgroup v2 only), cumulative nanoseconds:
    // partial = some of the tasks stalled on the resource, full = all of them
    std::optional<double> cpu_partial_stall_ns, memory_partial_stall_ns, memory_full_stall_ns, io_partial_stall_ns,
        io_full_stall_ns;
};

// `<key> <number>` lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
std::map<std::string, double> parse_key_values(const std::string& text, const std::string& path,
                                               std::vector<std::string>& problems);
// v2 io.stat (`<maj>:<min> rbytes=.. wbytes=.. rios=.. wios=..`): each key summed over devices.
std::map<std::string, double> parse_io_stat(const std::string& text, const std::string& path,
                                            std::vector<std::string>& problems);
// v1 blkio.throttle.io_service_bytes / io_serviced (`<maj>:<min> Read <n>`):
// "Read" and "Write" summed over devices (the trailing `Total` line is not a device).
std::map<std::string, double> parse_blkio(const std::string& text, const std::string& path,
                                          std::vector<std::string>& problems);
// A cgroup v2 pressure file (cpu.pressure, memory.pressure, io.pressure):
// `some avg10=.. avg60=.. avg300=.. total=<us>` and the same for `full`; the
// totals, in microseconds, by "some" and "full".
std::map<std::string, double> parse_pressure(const std::string& text, const std::string& path,
                                             std::vector<std::string>& problems);
// The stall totals of the pressure files in one cgroup v2 directory,
// cumulative nanoseconds; each empty where its file or line is missing.
struct PressureStalls {
    std::optional<double> cpu_partial_ns, memory_partial_ns, memory_full_ns, io_partial_ns, io_full_ns;
};
PressureStalls read_pressure_stalls(const std::string& dir, std::vector<std::string>& problems);
// A limit file (memory.max, memory.limit_in_bytes, pids.max): nullopt for
// "max" and for v1's "no limit" value (close to 2^63).
std::optional<double> parse_limit(const std::string& text, const std::string& path, std::vector<std::string>& problems);

// Where the files of one controller of a cgroup are.
class CgroupFiles {
public:
    explicit CgroupFiles(const containers::CgroupLayout& layout) : layout_(layout) {}
    // The hierarchy holding `controller` ("memory", "cpu", "blkio", "pids"):
    // its v1 mount, else the unified one; nullptr when neither is mounted.
    const containers::CgroupMount* mount_of(const std::string& controller) const;
    // The unified (v2) hierarchy, where pressure files are; nullptr when not mounted.
    const containers::CgroupMount* unified() const { return layout_.unified(); }
    // The directory of `cgroup_path` (relative to the hierarchy root) in `mount`;
    // "" when the mount does not show that part of the hierarchy.
    static std::string directory(const containers::CgroupMount& mount, const std::string& cgroup_path);

private:
    const containers::CgroupLayout& layout_;
};

// Reads every figure of the cgroup `cgroup_path`; `problems` gets one line per unusable file.
CgroupStats read_cgroup_stats(const CgroupFiles& files, const std::string& cgroup_path,
                              std::vector<std::string>& problems);

}  // namespace tracer::collectors
