#include "agent/proc_collector.h"

namespace tracer::agent {

void ProcCollector::read(std::vector<uint64_t>& keys) {
    probe_.read_counts(readings_);
    for (const auto& r : readings_) keys.push_back(r.cgroup_id);
}

void ProcCollector::accumulate(CgroupDirectory& directory, std::chrono::duration<double>) {
    using C = probes::ProcCountsReading;
    table_.accumulate(readings_, directory, [](C& acc, const C& now, const C& before) {
        acc.execs += counter_delta(now.execs, before.execs);
        acc.forks += counter_delta(now.forks, before.forks);
        acc.exits += counter_delta(now.exits, before.exits);
        acc.oom_kills += counter_delta(now.oom_kills, before.oom_kills);
    });
}

void ProcCollector::forget(const std::vector<uint64_t>& keys) {
    probe_.forget_cgroups(keys);
    table_.forget(keys);
}

void ProcCollector::append_families(metrics::Snapshot& out) const {
    using metrics::MetricType;
    metrics::Family execs{"tracer.process.execs", "", "Successful execve()s in the cgroup.", MetricType::Counter, {}};
    metrics::Family forks{"tracer.process.forks", "", "New processes (not threads) created in the cgroup.",
                          MetricType::Counter, {}};
    metrics::Family exits{"tracer.process.exits", "", "Processes (thread-group leaders) that exited in the cgroup.",
                          MetricType::Counter, {}};
    metrics::Family ooms{"tracer.oom_kills", "", "Tasks of the cgroup chosen as OOM-killer victims.",
                         MetricType::Counter, {}};
    for (const auto& [cgroup, entry] : table_.by_label()) {
        metrics::Labels labels{{"cgroup", cgroup}};
        const auto& t = entry.totals;
        execs.samples.push_back({labels, static_cast<double>(t.execs), {}});
        forks.samples.push_back({labels, static_cast<double>(t.forks), {}});
        exits.samples.push_back({labels, static_cast<double>(t.exits), {}});
        ooms.samples.push_back({std::move(labels), static_cast<double>(t.oom_kills), {}});
    }
    out.push_back(std::move(execs));
    out.push_back(std::move(forks));
    out.push_back(std::move(exits));
    out.push_back(std::move(ooms));
}

}  // namespace tracer::agent
