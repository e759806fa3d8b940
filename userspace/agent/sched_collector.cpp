#include "agent/sched_collector.h"

#include "agent/host_context.h"
#include "agent/kernel_area.h"
#include "agent/log2_histogram.h"

namespace tracer::agent {

void SchedCollector::read(std::vector<uint64_t>& keys) {
    kernel_.read(readings_);
    for (const auto& r : readings_) keys.push_back(r.cgroup_id);
}

void SchedCollector::accumulate(CgroupDirectory& directory, std::chrono::duration<double>) {
    table_.accumulate(readings_, directory,
                      [](probes::SchedTotals& acc, const probes::SchedTotals& now, const probes::SchedTotals& before) {
                          acc.runq_count += counter_delta(now.runq_count, before.runq_count);
                          acc.runq_total_ns += counter_delta(now.runq_total_ns, before.runq_total_ns);
                          for (size_t i = 0; i < acc.runq_slots.size(); ++i)
                              acc.runq_slots[i] += counter_delta(now.runq_slots[i], before.runq_slots[i]);
                          acc.oncpu_ns += counter_delta(now.oncpu_ns, before.oncpu_ns);
                          acc.voluntary += counter_delta(now.voluntary, before.voluntary);
                          acc.involuntary += counter_delta(now.involuntary, before.involuntary);
                          acc.migrations += counter_delta(now.migrations, before.migrations);
                      });
}

void SchedCollector::forget(const std::vector<uint64_t>& keys) {
    kernel_.forget(keys);
    table_.forget(keys);
}

void SchedCollector::append_families(metrics::Snapshot& out) const {
    using metrics::MetricType;
    metrics::Family runq{"tracer.runqueue.latency", "seconds",
                         "Time runnable tasks of the cgroup waited for a CPU (wake-up or preemption to running).",
                         MetricType::Histogram, {}};
    metrics::Family cpu{"tracer.cpu", "seconds", "Time the cgroup's tasks ran on a CPU.", MetricType::Counter, {}};
    metrics::Family switches{"tracer.context_switches", "",
                             "Context switches away from the cgroup's tasks: voluntary (blocked) or involuntary "
                             "(preempted).",
                             MetricType::Counter, {}};
    metrics::Family migrations{"tracer.migrations", "", "Moves of the cgroup's tasks between CPUs.",
                               MetricType::Counter, {}};
    for (const auto& [cgroup, entry] : table_.by_label()) {
        const auto& t = entry.totals;
        metrics::Labels labels{{"cgroup", cgroup}};
        runq.samples.push_back({labels, 0, seconds_histogram_from_log2_ns(t.runq_slots, t.runq_total_ns)});
        cpu.samples.push_back({labels, static_cast<double>(t.oncpu_ns) / 1e9, {}});
        switches.samples.push_back({{{"cgroup", cgroup}, {"kind", "voluntary"}}, static_cast<double>(t.voluntary), {}});
        switches.samples.push_back(
            {{{"cgroup", cgroup}, {"kind", "involuntary"}}, static_cast<double>(t.involuntary), {}});
        migrations.samples.push_back({labels, static_cast<double>(t.migrations), {}});
    }
    out.push_back(std::move(runq));
    out.push_back(std::move(cpu));
    out.push_back(std::move(switches));
    out.push_back(std::move(migrations));
}

namespace {

class SchedArea : public ProbeArea<probes::SchedProbe, SchedCollector> {
public:
    using ProbeArea::ProbeArea;
    void drops(AreaDrops& out) const override {
        auto d = probe_->drops();
        out.map_failures.emplace_back("sched_stats", d[SCHED_DROP_STATS_FULL]);
        out.map_failures.emplace_back("sched_tasks", d[SCHED_DROP_TASK_SLOT]);
    }
};

}  // namespace

std::unique_ptr<LoadedArea> load_sched_area(const AreaSetup& setup) {
    probes::SchedProbeOptions o;
    o.keying = setup.host.keying();
    o.map_entries = setup.config.sched.map_entries;
    o.max_threads = setup.config.sched.max_threads;
    o.btf_path = setup.btf_path;
    o.variant = setup.variant();
    return std::make_unique<SchedArea>(std::make_unique<probes::SchedProbe>(o));
}

}  // namespace tracer::agent
