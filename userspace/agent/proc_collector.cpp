#include "agent/proc_collector.h"

#include "agent/host_context.h"
#include "agent/kernel_area.h"
#include "log.h"

namespace tracer::agent {

void ProcCollector::read(std::vector<uint64_t>& keys) {
    kernel_.read(readings_);
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
    kernel_.forget(keys);
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

namespace {

class ProcArea : public ProbeArea<probes::ProcProbe, ProcCollector> {
public:
    ProcArea(std::unique_ptr<probes::ProcProbe> probe, std::function<void(const probes::ProcEvent&)> consumer,
             uint32_t emitted_events)
        : ProbeArea(std::move(probe)), consumer_(std::move(consumer)), emitted_events_(emitted_events) {}
    void drops(AreaDrops& out) const override {
        auto d = probe_->drops();
        out.map_failures.emplace_back("proc_counts", d[PROC_DROP_COUNTS_FULL]);
        out.map_failures.emplace_back("proc_oom_pending", d[PROC_DROP_OOM_PENDING_FULL]);
        out.ring_drops.emplace_back("proc_events", d[PROC_DROP_RINGBUF_FULL]);
    }
    // OOM kills are logged; every kind that crossed the ring goes to the consumer.
    void drain_events() override {
        probe_->drain([this](const probes::ProcEvent& e) {
            if (consumer_) consumer_(e);
            if (e.kind != probes::ProcEventKind::Oom) return;
            LOG_WARN("OOM kill: pid %u (%s), memory cgroup id %llu, %llu MiB virtual", e.pid, e.comm.c_str(),
                     static_cast<unsigned long long>(e.oom_memcg_id),
                     static_cast<unsigned long long>(e.oom_total_vm_pages * 4096 / (1024 * 1024)));
        });
    }

    // OOM kills wake the ring's reader; exec, fork and exit (when asked
    // for) cross without a wake-up.
    EventWake event_wake() const override {
        return {probe_->ring_fd(), (emitted_events_ & ~probes::proc_event_bit(probes::ProcEventKind::Oom)) != 0};
    }

private:
    std::function<void(const probes::ProcEvent&)> consumer_;
    uint32_t emitted_events_;
};

}  // namespace

std::unique_ptr<LoadedArea> load_proc_area(const AreaSetup& setup) {
    probes::ProcProbeOptions o;
    o.keying = setup.host.keying();
    o.map_entries = setup.config.proc.map_entries;
    o.ring_bytes = setup.config.proc.ring_bytes;
    o.btf_path = setup.btf_path;
    o.variant = setup.variant();
    // The counters come from the kernel's maps. Of the events, OOM kills are
    // logged; the others cross the ring only when api_events asks for them
    // (each costs a ring record per event).
    o.emitted_events = probes::proc_event_bit(probes::ProcEventKind::Oom);
    for (const auto& kind : setup.config.api_events) {
        if (kind == "exec") o.emitted_events |= probes::proc_event_bit(probes::ProcEventKind::Exec);
        if (kind == "fork") o.emitted_events |= probes::proc_event_bit(probes::ProcEventKind::Fork);
        if (kind == "exit") o.emitted_events |= probes::proc_event_bit(probes::ProcEventKind::Exit);
    }
    return std::make_unique<ProcArea>(std::make_unique<probes::ProcProbe>(o), setup.events.process, o.emitted_events);
}

}  // namespace tracer::agent
