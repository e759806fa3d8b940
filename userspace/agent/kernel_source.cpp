#include "agent/kernel_source.h"

#include "agent/host_context.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/cgroup_events_probe.h"
#include "probes/kernel_features.h"
#include "stop_fd.h"

#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tracer::agent {
namespace {

std::string human_rate(double v) {
    char buf[32];
    if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
    else if (v >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

metrics::Family family(const char* name, metrics::MetricType type, const char* help) {
    return metrics::Family{name, "", help, type, {}};
}

}  // namespace

KernelSource::KernelSource(const config::AgentConfig& cfg, HostContext& host, const std::string& btf_path,
                           AreaEvents events)
    : host_(host), directory_(host.resolver(), cfg.max_cgroups) {
    directory_.use_tagger(&host.tagger(), &host.metadata());
    load(cfg, btf_path, std::move(events));
}

KernelSource::~KernelSource() = default;

void KernelSource::load(const config::AgentConfig& cfg, const std::string& btf_path, AreaEvents events) {
    // What every area needs; when it is missing nothing BPF can load, and
    // the agent runs without kernel metrics rather than not at all.
    std::string unusable;
    try {
        probes::require_kernel_version();
        probes::require_bpf_privileges();
        probes::require_btf(btf_path);
    } catch (const probes::ProbeError& e) {
        unusable = e.what();
        LOG_ERROR("NO KERNEL METRICS: %s. tracer keeps running without them: plugins, DogStatsD, /metrics "
                  "and forwarding work; tracer_probe_up shows 0 for every kernel area.", unusable.c_str());
    }
    if (unusable.empty()) {
        try {
            cgroup_events_ = std::make_unique<probes::CgroupEventsProbe>(
                host_.keying(), host_.host_path("/proc/cgroups"), btf_path);
            directory_.use_cgroup_events(cgroup_events_.get());
        } catch (const probes::ProbeError& e) {
            LOG_WARN("cgroup events probe not loaded; cgroups that live shorter than a scan count as "
                     "cgroup=\"<unresolved>\": %s", e.what());
        }
    }
    AreaSetup setup{cfg, host_, btf_path, std::move(events)};
    for (const auto& info : kernel_areas()) {
        std::string name(info.name);
        if (!info.enabled(cfg)) {
            status_.push_back({"kernel", name, false, "disabled in config (" + name + ".enabled: false)"});
            LOG_INFO("%s probe off: disabled in config", name.c_str());
            continue;
        }
        if (!unusable.empty()) {
            status_.push_back({"kernel", name, false, unusable});
            continue;
        }
        try {
            auto area = info.load(setup);
            std::string detail = area->describe();
            LOG_INFO("%s probe attached (%s)", name.c_str(), detail.c_str());
            status_.push_back({"kernel", name, true, detail});
            collectors_.push_back(&area->collector());
            areas_.push_back({name, std::move(area)});
        } catch (const probes::ProbeError& e) {
            LOG_ERROR("%s probe not loaded, no %s: %s", name.c_str(), std::string(info.measures).c_str(), e.what());
            status_.push_back({"kernel", name, false, e.what()});
        }
    }
}

void KernelSource::drain_events() {
    for (auto& a : areas_) a.area->drain_events();
}

void KernelSource::run_events(std::stop_token stop) {
    const StopFd stop_fd(stop);
    if (!stop_fd) LOG_ERROR("kernel events: eventfd: %s; draining every 100 ms instead", std::strerror(errno));
    bool batched = !stop_fd;
    for (const auto& a : areas_) batched = batched || a.area->event_wake().batched;
    // On the timer every ring is drained anyway: poll only for stop. Otherwise
    // also for the rings whose records wake their reader.
    std::vector<pollfd> fds;
    if (!batched)
        for (const auto& a : areas_)
            if (int fd = a.area->event_wake().ring_fd; fd >= 0) fds.push_back({fd, POLLIN, 0});
    if (stop_fd) fds.push_back({stop_fd.get(), POLLIN, 0});
    const int timeout_ms = batched ? 100 : -1;
    while (!stop.stop_requested()) {
        int n = ::poll(fds.data(), fds.size(), timeout_ms);
        if (n < 0 && errno != EINTR) {
            LOG_ERROR("kernel events: poll: %s; event thread stopped", std::strerror(errno));
            return;
        }
        if (stop.stop_requested()) return;
        drain_events();
    }
}

void KernelSource::flush(metrics::Interval& out) {
    auto& snap = out.families;
    if (!collectors_.empty()) {
        collect_interval(directory_, collectors_, std::chrono::duration<double>(out.elapsed_seconds));
        size_t first = snap.size();
        for (const auto* c : collectors_) c->append_families(snap);
        directory_.apply_tags(snap, first);  // every family so far is per-cgroup
        directory_.append_container_info(snap);
    }

    auto up = family("tracer.probe.up", metrics::MetricType::Gauge,
                     "1 when the kernel area's programs are attached, 0 when it is off or could not load "
                     "(`tracer status` says why).");
    for (const auto& s : status_) up.samples.push_back({{{"probe", s.name}}, s.up ? 1.0 : 0.0, {}});
    snap.push_back(std::move(up));

    const auto& f = probes::kernel_features();
    auto features = family("tracer.feature.enabled", metrics::MetricType::Gauge,
                           "1 when the kernel has the BPF feature (tracer version --features explains each).");
    for (auto [feature, on] : {std::pair{"btf", !f.btf_file.empty()}, std::pair{"ring_buffer", f.ring_buffer},
                               std::pair{"task_storage", f.task_storage}, std::pair{"tp_btf", f.tp_btf}})
        features.samples.push_back({{{"feature", feature}}, on ? 1.0 : 0.0, {}});
    snap.push_back(std::move(features));

    auto failures = family("tracer.bpf.map_update_failures", metrics::MetricType::Counter,
                           "Failed BPF map updates (map full): events not counted or not timed.");
    auto dropped = family("tracer.events.dropped", metrics::MetricType::Counter,
                          "Events lost because their ring buffer was full (still counted in the counters).");
    auto skipped = family("tracer.bpf.runs_skipped", metrics::MetricType::Counter,
                          "Runs of a tracer BPF program the kernel skipped because that program was already "
                          "running on the CPU (preempted inside it): what those runs would have counted is "
                          "missing. 0 on kernels before 5.12, which do not report it.");
    AreaDrops drops;
    std::vector<std::pair<std::string, uint64_t>> runs;
    if (cgroup_events_) runs = cgroup_events_->skipped_runs();
    for (const auto& a : areas_) {
        a.area->drops(drops);
        for (auto& run : a.area->skipped_runs()) runs.push_back(std::move(run));
    }
    for (const auto& [map, n] : drops.map_failures) failures.samples.push_back({{{"map", map}}, double(n), {}});
    for (const auto& [ring, n] : drops.ring_drops) dropped.samples.push_back({{{"ring", ring}}, double(n), {}});
    for (const auto& [prog, n] : runs) skipped.samples.push_back({{{"program", prog}}, double(n), {}});
    warn_of_skipped_runs(runs);
    if (cgroup_events_)
        dropped.samples.push_back({{{"ring", "cgroup_events"}}, double(cgroup_events_->drops()), {}});
    for (const auto& a : areas_) a.area->append_self_metrics(snap);
    snap.push_back(std::move(failures));
    snap.push_back(std::move(dropped));
    snap.push_back(std::move(skipped));

    auto tracked = family("tracer.cgroups.tracked", metrics::MetricType::Gauge, "Cgroups with series of their own.");
    tracked.samples.push_back({{}, double(directory_.tracked()), {}});
    snap.push_back(std::move(tracked));

    auto limited = family("tracer.cardinality.limited", metrics::MetricType::Gauge,
                          "What the cardinality limits cut in the last interval: cgroups folded into "
                          "cgroup=\"<overflow>\" (max_cgroups), syscall series without a latency "
                          "histogram (syscalls.histogram_syscalls).");
    limited.samples.push_back({{{"limit", "max_cgroups"}}, double(directory_.overflowed()), {}});
    std::vector<std::pair<std::string, double>> limits;
    for (const auto& a : areas_) a.area->limits(limits);
    for (const auto& [limit, n] : limits) limited.samples.push_back({{{"limit", limit}}, n, {}});
    snap.push_back(std::move(limited));
}

// One warning a minute at most, naming the programs whose count grew since
// the last one: a rare skip is worth knowing about, not a line per interval.
void KernelSource::warn_of_skipped_runs(const std::vector<std::pair<std::string, uint64_t>>& runs) {
    auto now = std::chrono::steady_clock::now();
    if (skipped_warned_at_ != std::chrono::steady_clock::time_point{} && now - skipped_warned_at_ < std::chrono::minutes(1))
        return;
    std::string grew;
    for (const auto& [prog, n] : runs) {
        uint64_t& logged = skipped_logged_[prog];
        if (n <= logged) continue;
        grew += (grew.empty() ? "" : ", ") + prog + " +" + std::to_string(n - logged);
        logged = n;
    }
    if (grew.empty()) return;
    skipped_warned_at_ = now;
    LOG_WARN("the kernel skipped runs of BPF programs already running on the same CPU (preempted inside them), "
             "so their events are missing from the counts: %s (tracer_bpf_runs_skipped_total)", grew.c_str());
}

const LoadedArea* KernelSource::area_named(const std::string& name) const {
    for (const auto& a : areas_)
        if (a.name == name) return a.area.get();
    return nullptr;
}

std::vector<metrics::SourceStatus> KernelSource::status() const {
    auto out = status_;
    for (auto& s : out)
        if (const LoadedArea* area = area_named(s.name))
            if (auto now = area->state(); !now.empty()) s.detail += "; " + now;
    return out;
}

std::vector<KernelSource::AreaReport> KernelSource::report() const {
    std::vector<AreaReport> out;
    for (const auto& s : status_) {
        AreaReport r{s.name, s.up, {}, "", s.up ? "" : s.detail};
        if (const LoadedArea* area = area_named(s.name)) r.hooks = area->hooks(), r.build = area->build();
        out.push_back(std::move(r));
    }
    return out;
}

std::string KernelSource::busiest_line(size_t n) const {
    for (const auto& a : areas_) {
        auto rows = a.area->busiest(n);
        if (rows.empty()) continue;
        std::string line;
        for (const auto& r : rows) {
            std::string name = host_.container_name(r.cgroup).value_or("");
            line += (line.empty() ? "" : ", ") + (name.empty() ? r.cgroup : name) + " " + human_rate(r.per_second);
        }
        return line;
    }
    return "";
}

}  // namespace tracer::agent
