#include "agent/agent.h"

#include "agent/cgroup_directory.h"
#include "agent/syscall_collector.h"
#include "api/metrics_server.h"
#include "containers/cgroup_layout.h"
#include "containers/cgroup_resolver.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/syscall_names.h"
#include "probes/syscall_probe.h"
#include "tracer_version.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

namespace tracer::agent {
namespace {

using Clock = std::chrono::steady_clock;

std::string host_path(const config::AgentConfig& cfg, const std::string& path) {
    if (cfg.host_root.empty() || cfg.host_root == "/") return path;
    return cfg.host_root + path;
}

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

// Waits until `deadline` or a blocked SIGINT/SIGTERM; returns the signal or 0.
int wait_for_signal(const sigset_t& signals, Clock::time_point deadline) {
    for (;;) {
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) return 0;
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        int sig = sigtimedwait(&signals, nullptr, &ts);
        if (sig > 0) return sig;
        if (errno != EINTR) return 0;  // EAGAIN: the deadline passed
    }
}

metrics::Family gauge(const char* name, const char* unit, const char* help) {
    return metrics::Family{name, unit, help, metrics::MetricType::Gauge, {}};
}

class Agent {
public:
    explicit Agent(const RunOptions& options) : cfg_(options.config), btf_path_(options.btf_path) {}

    int run() {
        // Block the stop signals before any thread exists: every thread
        // inherits the mask and only the flush loop below takes them.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);

        probes::require_kernel_version();
        probes::require_bpf_privileges();
        probes::require_btf(btf_path_);

        auto layout = containers::read_cgroup_layout("/proc/self/mountinfo",
                                                     cfg_.host_root == "/" ? "" : cfg_.host_root);
        auto keying = containers::choose_cgroup_keying(layout, cfg_.cgroup_hierarchy,
                                                       host_path(cfg_, "/proc/cgroups"));
        LOG_INFO("host cgroup layout: %s; per-cgroup data keyed on the %s", layout.describe().c_str(),
                 keying.describe().c_str());
        containers::CgroupResolver resolver(keying.mount_point, keying.mount_root);

        // The syscalls with a latency histogram are the ones the kernel times.
        std::vector<std::string> unknown;
        auto timed = probes::syscall_numbers(cfg_.syscalls.histogram_syscalls, unknown);
        for (const auto& name : unknown)
            LOG_WARN("syscalls.histogram_syscalls: '%s' is not a syscall on this architecture; ignored", name.c_str());

        probes::SyscallProbeOptions popts;
        popts.latency = cfg_.syscalls.latency;
        popts.timed_syscalls = timed;
        popts.map_entries = cfg_.syscalls.map_entries;
        popts.max_threads = cfg_.syscalls.max_threads;
        popts.keying = keying;
        popts.btf_path = btf_path_;
        probes::SyscallProbe probe(popts);
        std::string attached;
        for (const auto& a : probe.attached()) attached += (attached.empty() ? "" : ", ") + a;
        LOG_INFO("syscalls probe attached (%s; %s; latency %s)", attached.c_str(), probe.variant_description(),
                 cfg_.syscalls.latency ? "on" : "off");

        CgroupDirectory directory(resolver, cfg_.max_cgroups);
        SyscallCollector syscalls(probe, {cfg_.syscalls.latency, timed});
        const std::vector<CgroupCollector*> collectors{&syscalls};

        metrics::LatestSnapshot latest;
        std::unique_ptr<api::MetricsServer> server;
        if (!cfg_.metrics_addr.empty()) {
            auto [host, port] = config::parse_host_port(cfg_.metrics_addr, "metrics_addr");
            server = std::make_unique<api::MetricsServer>(host, port, latest);
            server->start();
            LOG_INFO("serving metrics on http://%s:%u/metrics", host.c_str(), server->port());
        }
        publish(latest, directory, syscalls, probe, 0);

        const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.interval));
        auto last = Clock::now();
        auto deadline = last + interval;
        int sig = 0;
        while ((sig = wait_for_signal(signals, deadline)) == 0) {
            auto started = Clock::now();
            collect_interval(directory, collectors, started - last);
            last = started;
            double took = std::chrono::duration<double>(Clock::now() - started).count();
            publish(latest, directory, syscalls, probe, took);
            log_top(syscalls);
            // fixed-rate schedule; if we fell behind, skip ahead rather than burst
            deadline += interval;
            if (deadline < Clock::now()) deadline = Clock::now() + interval;
        }
        LOG_INFO("%s received: detaching and exiting", sig == SIGINT ? "SIGINT" : "SIGTERM");
        if (server) server->stop();
        return 0;  // probe (and every BPF link) is destroyed on the way out
    }

private:
    void publish(metrics::LatestSnapshot& latest, const CgroupDirectory& directory,
                 const SyscallCollector& syscalls, const probes::SyscallProbe& probe, double collection_seconds) {
        auto snap = std::make_shared<metrics::Snapshot>();
        syscalls.append_families(*snap);

        auto info = gauge("tracer.build_info", "", "tracer's version; always 1.");
        info.samples.push_back({{{"version", TRACER_VERSION}}, 1, {}});
        snap->push_back(std::move(info));

        metrics::Family failures{"tracer.bpf.map_update_failures", "",
                                 "Failed BPF map updates (map full): events not counted or not timed.",
                                 metrics::MetricType::Counter, {}};
        auto drops = probe.drops();
        failures.samples.push_back({{{"map", "syscall_stats"}}, double(drops[SYSCALL_DROP_STATS_FULL]), {}});
        failures.samples.push_back({{{"map", "syscall_inflight"}}, double(drops[SYSCALL_DROP_INFLIGHT_FULL]), {}});
        snap->push_back(std::move(failures));

        auto tracked = gauge("tracer.cgroups.tracked", "", "Cgroups with series of their own.");
        tracked.samples.push_back({{}, double(directory.tracked()), {}});
        snap->push_back(std::move(tracked));

        auto limited = gauge("tracer.cardinality.limited", "",
                             "What the cardinality limits cut in the last interval: cgroups folded into "
                             "cgroup=\"<overflow>\" (max_cgroups), syscall series without a latency "
                             "histogram (syscalls.histogram_syscalls).");
        limited.samples.push_back({{{"limit", "max_cgroups"}}, double(directory.overflowed()), {}});
        limited.samples.push_back({{{"limit", "histogram_syscalls"}}, double(syscalls.histograms_omitted()), {}});
        snap->push_back(std::move(limited));

        auto took = gauge("tracer.collection.duration", "seconds", "Time the last collection took.");
        took.samples.push_back({{}, collection_seconds, {}});
        snap->push_back(std::move(took));

        latest.publish(std::move(snap));
    }

    void log_top(const SyscallCollector& collector) {
        if (cfg_.top_cgroups == 0) return;
        auto top = collector.top_cgroups(cfg_.top_cgroups);
        std::string line;
        for (const auto& r : top)
            line += (line.empty() ? "" : ", ") + r.cgroup + " " + human_rate(r.syscalls_per_second);
        if (line.empty()) line = "(none)";
        LOG_INFO("top cgroups by syscalls/s: %s", line.c_str());
    }

    config::AgentConfig cfg_;
    std::string btf_path_;
};

}  // namespace

int run_agent(const RunOptions& options) { return Agent(options).run(); }

}  // namespace tracer::agent
