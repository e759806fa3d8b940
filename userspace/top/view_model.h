// What `tracer top` shows, computed from two consecutive snapshots of the
// agent (api/snapshot_json.h): one row per container (or per cgroup), rates
// per second from the counters' differences, latency percentiles from the
// histograms' bucket differences, sorting and filtering. No I/O here apart
// from the optional cgroup reader, so all of it is testable without root.
#pragma once

#include "metrics/series.h"

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracer::top {

// One snapshot as the API served it, with when it was published.
struct TimedSnapshot {
    metrics::Snapshot families;
    double monotonic_seconds = 0;  // CLOCK_MONOTONIC at publication
    uint64_t sequence = 0;         // 0: unknown
};

// Latency buckets over one interval: counts[i] observations in
// (bounds[i-1], bounds[i]], counts.back() the overflow (+Inf) bucket.
struct Buckets {
    std::vector<double> bounds;
    std::vector<double> counts;
    double total() const;
    void add(const Buckets& other);
};

// The q-quantile (0..1) from bucket counts, interpolating linearly inside the
// bucket it falls in (the first bucket starts at 0); a quantile in the
// overflow bucket is the last bound. NaN without observations.
double percentile(const Buckets& b, double q);

struct SyscallUsage {
    double calls_per_s = 0, errors_per_s = 0;
    double seconds_per_s = 0;  // time spent in it (histogram sum), per second
    double max_seconds = NAN;  // longest single call in the agent's last interval
    Buckets latency;
    bool timed = false;        // has a latency histogram
};

// One cgroup's, or one container's, activity over one interval.
struct Usage {
    double cpu_seconds_per_s = 0;
    double context_switches_per_s = 0;
    double syscalls_per_s = 0, syscall_errors_per_s = 0;
    double rx_bytes_per_s = 0, tx_bytes_per_s = 0;
    double retransmits_per_s = 0, resets_per_s = 0;
    double connections_opened_per_s = 0;
    double open_connections = 0;  // gauge
    double execs_per_s = 0, exits_per_s = 0, oom_kills_per_s = 0;
    Buckets runqueue;
    std::map<std::string, SyscallUsage> syscalls;
    void add(const Usage& other);
};

// The CFS bandwidth counters of cpu.stat, cumulative.
struct CpuThrottling {
    double periods = 0;            // enforcement periods in which the cgroup ran
    double throttled_periods = 0;  // ... that ended with its quota used up
    double throttled_seconds = 0;  // time its tasks were held back by the quota
};

// Pressure stall information (cgroup v2's *.pressure), seconds: cumulative
// in CgroupFacts, per second (0-1) in a Row. some: time at least one of the
// cgroup's tasks stalled on the resource; full: time all of them did.
struct Pressure {
    double cpu_some = 0, memory_some = 0, memory_full = 0, io_some = 0, io_full = 0;
};

// What the view reads from the cgroup files themselves (not in the snapshot).
struct CgroupFacts {
    std::optional<double> memory_bytes;
    std::optional<double> pids;
    std::optional<double> memory_limit;       // bytes; none: unlimited
    std::optional<double> cpu_limit;          // CPUs the CFS quota allows (quota / period); none: unlimited
    std::optional<CpuThrottling> throttling;  // with a quota only
    std::optional<Pressure> pressure;         // cgroup v2 only
};
using CgroupReader = std::function<CgroupFacts(const std::vector<std::string>& cgroup_paths)>;

enum class Column {
    Name, Cpu, Throttled, RunqP99, CtxSw, Syscalls, Errors, TopSyscall, NetRx, NetTx, Retrans, Conns, Memory, Pids
};
struct ColumnInfo {
    Column column;
    const char* title;  // header text
    char key;           // the sort key
    const char* json;   // the field in --format json
};
const std::vector<ColumnInfo>& columns();

struct Row {
    std::string key;    // the container id, or the cgroup path
    std::string name;   // container name (else id), or cgroup path; Kubernetes: pod/container
    std::string image;
    std::string pod, kube_namespace;  // Kubernetes containers only
    std::vector<std::string> cgroups;  // the cgroups it sums
    bool is_container = false;
    Usage usage;
    double cpu_percent = 0;           // 100 = one CPU
    double runq_p99_seconds = NAN;
    std::string top_syscall;          // by time spent in it ("" = none timed)
    double top_syscall_seconds_per_s = 0;
    std::optional<double> memory_bytes, pids;
    std::optional<double> memory_limit;  // bytes (none: unlimited)
    std::optional<double> cpu_limit;   // CPUs, from the CFS quota (none: unlimited)
    double throttled_percent = NAN;    // of the quota's periods since the last refresh, those it ran out in
    double throttled_seconds_per_s = NAN;
    std::optional<Pressure> pressure;  // share of time stalled since the last refresh
};

struct ViewOptions {
    bool all_cgroups = false;   // one row per cgroup, not per container
    std::string filter;         // case-insensitive substring of name, id, image, pod, namespace or cgroup
    Column sort = Column::Cpu;
    bool reverse = false;       // flip the column's natural order
};

class ViewModel {
public:
    void set_cgroup_reader(CgroupReader reader) { reader_ = std::move(reader); }

    // A new snapshot: the previous one becomes the base of the rates. A
    // snapshot with the same sequence as the current one is ignored
    // (false); true when the rows changed.
    bool update(TimedSnapshot snapshot);

    // Rates need two snapshots.
    bool has_rates() const { return has_previous_; }
    double interval_seconds() const { return elapsed_; }

    std::vector<Row> rows(const ViewOptions& options) const;
    // The row with `key` in the given grouping (its syscalls, run-queue buckets...).
    std::optional<Row> row(const std::string& key, bool all_cgroups) const;

    // Label value of the first sample of `family` ("" if none): tracer.build_info's version.
    std::string label_of(const std::string& family, const std::string& label) const;
    // Sum of every sample of a counter family (drops, map-full counters).
    double total_of(const std::string& family) const;

private:
    struct CgroupEntry {
        std::string container_id, container_name, image, pod, kube_namespace, kube_container;
        Usage usage;
    };
    // What a row is called: containers::container_display_name (a Kubernetes
    // container <pod>/<container>), else the container's id.
    static std::string display_name(const CgroupEntry& e);
    Row make_row(const std::string& key, const CgroupEntry& names, std::vector<std::string> cgroups, bool container,
                 const Usage& u) const;

    CgroupReader reader_;
    // The reader's facts per list of cgroups, read at most once per snapshot:
    // this one's, and the one's before (the base of the throttling rates).
    mutable std::map<std::vector<std::string>, CgroupFacts> facts_, previous_facts_;
    TimedSnapshot current_;
    bool has_current_ = false, has_previous_ = false;
    double elapsed_ = 0;
    std::map<std::string, CgroupEntry> cgroups_;  // by cgroup path
};

// Sorts in place: the column's natural order (names ascending, numbers
// descending, unknowns last), `reverse` flips it; ties by name.
void sort_rows(std::vector<Row>& rows, Column column, bool reverse);
bool row_matches(const Row& row, const std::string& filter);

}  // namespace tracer::top
