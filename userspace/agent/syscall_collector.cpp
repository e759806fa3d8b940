#include "agent/syscall_collector.h"

#include "agent/cgroup_totals.h"
#include "agent/host_context.h"
#include "agent/kernel_area.h"
#include "agent/log2_histogram.h"

#include "log.h"
#include "probes/syscall_names.h"

#include <algorithm>

namespace tracer::agent {

SyscallCollector::SyscallCollector(KernelReadings<probes::SyscallReading> kernel, SyscallCollectorOptions options)
    : kernel_(std::move(kernel)), options_(std::move(options)) {
    if (options_.histogram_syscalls)
        histogram_nrs_.insert(options_.histogram_syscalls->begin(), options_.histogram_syscalls->end());
}

bool SyscallCollector::wants_histogram(uint32_t nr) const {
    return options_.latency && (!options_.histogram_syscalls || histogram_nrs_.count(nr));
}

void SyscallCollector::read(std::vector<uint64_t>& keys) {
    kernel_.read(readings_);
    for (const auto& r : readings_) keys.push_back(r.cgroup_id);
}

void SyscallCollector::accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) {
    interval_ = directory.interval();
    last_elapsed_ = elapsed.count();
    for (auto& [label, st] : cgroups_)
        for (auto& [nr, acc] : st.by_syscall) acc.max_ns = 0;  // max is per interval

    for (const auto& r : readings_) {
        auto& last = last_[KeyNr{r.cgroup_id, r.nr}];
        auto& before = last.totals;
        auto& st = cgroups_[directory.label(r.cgroup_id)];
        auto& acc = st.by_syscall[r.nr];
        if (st.last_seen != interval_) {
            st.last_seen = interval_;
            st.interval_count = 0;
        }
        uint64_t d = counter_delta(r.totals.count, before.count);
        acc.count += d;
        st.interval_count += d;
        acc.errors += counter_delta(r.totals.errors, before.errors);
        if (wants_histogram(r.nr)) {
            // The timed calls of this interval stand for every call counted
            // since the last timed ones (an interval without a latency window
            // passes its calls on).
            std::array<uint64_t, SYSCALL_LATENCY_SLOTS> timed;
            for (int i = 0; i < SYSCALL_LATENCY_SLOTS; ++i) timed[i] = counter_delta(r.totals.slots[i], before.slots[i]);
            last.untimed += d;
            if (auto scaled = scale_log2_slots(timed, counter_delta(r.totals.total_ns, before.total_ns), last.untimed)) {
                for (int i = 0; i < SYSCALL_LATENCY_SLOTS; ++i) acc.slots[i] += scaled->slots[i];
                acc.total_ns += scaled->total_ns;
                last.untimed = 0;
            }
        }
        acc.max_ns = std::max(acc.max_ns, r.totals.max_ns);
        before = r.totals;
    }

    // Series of cgroups unseen for two intervals go away.
    histograms_omitted_ = 0;
    for (auto it = cgroups_.begin(); it != cgroups_.end();) {
        if (interval_ - it->second.last_seen >= 2) {
            it = cgroups_.erase(it);
            continue;
        }
        if (it->second.last_seen != interval_) it->second.interval_count = 0;
        if (options_.latency)
            for (const auto& [nr, acc] : it->second.by_syscall) histograms_omitted_ += !wants_histogram(nr);
        ++it;
    }
}

void SyscallCollector::forget(const std::vector<uint64_t>& keys) {
    kernel_.forget(keys);
    std::unordered_set<uint64_t> gone(keys.begin(), keys.end());
    std::erase_if(last_, [&](const auto& kv) { return gone.count(kv.first.key) != 0; });
}

void SyscallCollector::append_families(metrics::Snapshot& out) const {
    using metrics::Family;
    using metrics::MetricType;
    Family calls{"tracer.syscalls", "", "Syscalls completed, per cgroup and syscall.", MetricType::Counter, {}};
    Family errors{"tracer.syscall.errors", "", "Syscalls that returned an error (-4095..-1).",
                  MetricType::Counter, {}};
    Family duration{"tracer.syscall.duration", "seconds",
                    "Syscall latency from entry to exit (syscalls.histogram_syscalls only).",
                    MetricType::Histogram, {}};
    Family max{"tracer.syscall.max_duration", "seconds",
               "Longest syscall in the last interval (syscalls.histogram_syscalls only).", MetricType::Gauge, {}};
    for (const auto& [cgroup, st] : cgroups_) {
        for (const auto& [nr, acc] : st.by_syscall) {
            metrics::Labels labels{{"cgroup", cgroup}, {"syscall", probes::syscall_name(nr)}};
            calls.samples.push_back({labels, static_cast<double>(acc.count), {}});
            errors.samples.push_back({labels, static_cast<double>(acc.errors), {}});
            if (!options_.latency) continue;
            if (!wants_histogram(nr)) continue;
            duration.samples.push_back({labels, 0, seconds_histogram_from_log2_ns(acc.slots, acc.total_ns)});
            max.samples.push_back({std::move(labels), static_cast<double>(acc.max_ns) / 1e9, {}});
        }
    }
    out.push_back(std::move(calls));
    out.push_back(std::move(errors));
    if (options_.latency) {
        out.push_back(std::move(duration));
        out.push_back(std::move(max));
    }
}

std::vector<CgroupRate> SyscallCollector::top_cgroups(size_t n) const {
    std::vector<CgroupRate> rates;
    double secs = last_elapsed_ > 0 ? last_elapsed_ : 1;
    for (const auto& [cgroup, st] : cgroups_)
        if (st.last_seen == interval_ && st.interval_count > 0)
            rates.push_back({cgroup, static_cast<double>(st.interval_count) / secs});
    std::sort(rates.begin(), rates.end(),
              [](const auto& a, const auto& b) { return a.syscalls_per_second > b.syscalls_per_second; });
    if (rates.size() > n) rates.resize(n);
    return rates;
}

namespace {

class SyscallsArea : public ProbeArea<probes::SyscallProbe, SyscallCollector> {
public:
    using ProbeArea::ProbeArea;
    void drops(AreaDrops& out) const override {
        auto d = probe_->drops();
        out.map_failures.emplace_back("syscall_stats", d[SYSCALL_DROP_STATS_FULL]);
        out.map_failures.emplace_back("syscall_inflight", d[SYSCALL_DROP_INFLIGHT_FULL]);
    }
    void limits(std::vector<std::pair<std::string, double>>& out) const override {
        out.emplace_back("histogram_syscalls", double(collector_.histograms_omitted()));
    }
    std::vector<BusyCgroup> busiest(size_t n) const override {
        std::vector<BusyCgroup> out;
        for (const auto& r : collector_.top_cgroups(n)) out.push_back({r.cgroup, r.syscalls_per_second});
        return out;
    }
    // "latency windows of 200 ms every 2000 ms (host 31200 syscalls/s); windows since start: 52
    // opened, 3 held open; calls timed since start: 91234", or "latency hook held attached: host
    // quiet (412 syscalls/s, below 5000); ..."
    std::string state() const override {
        if (!probe_->latency_windowed()) return "";
        const uint64_t rate = probe_->latency_host_rate();
        std::string out;
        if (probe_->latency_held_now())
            out = "latency hook held attached: host quiet (" + std::to_string(rate) + " syscalls/s, below " +
                  std::to_string(probe_->latency_quiet_rate()) + ")";
        else
            out = "latency windows of " + std::to_string(probe_->latency_window_ms()) + " ms every " +
                  std::to_string(probe_->latency_period_ms()) + " ms" +
                  (rate ? " (host " + std::to_string(rate) + " syscalls/s)" : "");
        out += "; windows since start: " + std::to_string(probe_->latency_windows()) + " opened, " +
               std::to_string(probe_->latency_windows_held()) + " held open";
        if (auto failed = probe_->latency_window_failures()) out += ", " + std::to_string(failed) + " failed to attach";
        out += "; calls timed since start: " + std::to_string(probe_->latency_stamps());
        return out;
    }
};

}  // namespace

std::unique_ptr<LoadedArea> load_syscalls_area(const AreaSetup& setup) {
    const auto& c = setup.config.syscalls;
    // The syscalls with a latency histogram are the ones the kernel times.
    std::vector<std::string> unknown;
    auto timed = probes::syscall_numbers(c.histogram_syscalls, unknown);
    for (const auto& name : unknown)
        LOG_WARN("syscalls.histogram_syscalls: '%s' is not a syscall on this architecture; ignored", name.c_str());
    probes::SyscallProbeOptions o;
    o.latency = c.latency;
    o.timed_syscalls = timed;
    o.map_entries = c.map_entries;
    o.max_threads = c.max_threads;
    o.latency_window_ms = c.latency_window_ms;
    o.latency_period_ms = c.latency_period_ms;
    o.latency_quiet_rate = c.latency_quiet_rate;
    o.keying = setup.host.keying();
    o.btf_path = setup.btf_path;
    o.proc_root = setup.host.host_path("/proc");
    o.variant = setup.variant();
    auto probe = std::make_unique<probes::SyscallProbe>(o);
    if (probe->latency_windowed())
        LOG_INFO("syscalls: latency measured in windows of %u ms every %u ms (counts and errors exact)",
                 c.latency_window_ms, c.latency_period_ms);
    return std::make_unique<SyscallsArea>(std::move(probe), SyscallCollectorOptions{c.latency, timed});
}

}  // namespace tracer::agent
