#include "agent/agent.h"

#include "agent/host_context.h"
#include "agent/kernel_source.h"
#include "agent/privileges.h"
#include "api/event_json.h"
#include "api/local_api_server.h"
#include "api/metrics_server.h"
#include "collectors/plugin_runner.h"
#include "forwarder/forwarder.h"
#include "log.h"
#include "probes/kernel_features.h"
#include "statsd/statsd_source.h"
#include "metrics/output_sanitizer.h"
#include "tracer_version.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace tracer::agent {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `deadline`, a blocked SIGINT/SIGTERM (returned) or, when it
// can be requested, `stop` (returns SIGTERM).
int wait_for_stop(const sigset_t* signals, const std::stop_token& stop, Clock::time_point deadline) {
    for (;;) {
        if (stop.stop_requested()) return SIGTERM;
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) return 0;
        if (!signals) {  // embedded: poll the stop token
            std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
            continue;
        }
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        int sig = sigtimedwait(signals, nullptr, &ts);
        if (sig > 0) return sig;
        if (errno != EINTR) return 0;  // EAGAIN: the deadline passed
    }
}

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

metrics::Family gauge(const char* name, const char* unit, const char* help) {
    return metrics::Family{name, unit, help, metrics::MetricType::Gauge, {}};
}

class Agent {
public:
    explicit Agent(const RunOptions& options)
        : cfg_(options.config), btf_path_(options.btf_path), stop_(options.stop), latest_(options.latest) {
        if (!latest_) latest_ = std::make_shared<metrics::LatestSnapshot>();
    }

    int run() {
        // Block the stop signals before any thread exists: every thread
        // inherits the mask and only the flush loop below takes them.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        const bool embedded = stop_.stop_possible();
        if (!embedded) pthread_sigmask(SIG_BLOCK, &signals, nullptr);

        // Sinks are built (API keys read, spools opened) before anything is loaded, so a
        // missing key stops the agent at once; they start sending after /metrics is up.
        if (!cfg_.sinks.empty()) forwarder_ = std::make_unique<forwarder::Forwarder>(cfg_);

        host_ = std::make_unique<HostContext>(cfg_);
        LOG_INFO("host cgroup layout: %s; per-cgroup data keyed on the %s", host_->layout().describe().c_str(),
                 host_->keying().describe().c_str());
        // The kernel's events for the local API's /v1/events (which kinds: api_events).
        AreaEvents events_for_api;
        if (!cfg_.api_socket.empty()) {
            events_for_api.process = [this](const probes::ProcEvent& e) {
                keep_event(e.cgroup_id, api::process_event_json(e));
            };
            events_for_api.connection = [this](const probes::NetConnection& c) {
                keep_event(c.cgroup_id, api::connection_event_json(c));
            };
        }
        kernel_ = std::make_unique<KernelSource>(cfg_, *host_, btf_path_, std::move(events_for_api));
        sources_.push_back(kernel_.get());

        // Kernel events: OOM kills wake this thread; process and connection
        // events for the local API arrive in batches, drained on a timer.
        std::jthread events([this](std::stop_token stop) { kernel_->run_events(stop); });

        start_statsd();
        // Integration plugins from conf.d: their checks run on the runner's own threads.
        plugins_ = collectors::make_plugin_runner(cfg_.confd, cfg_.host_root, cfg_.interval,
                                                  host_->plugin_services());
        if (plugins_) sources_.push_back(plugins_.get());

        start_local_api();
        std::unique_ptr<api::MetricsServer> server;
        if (!cfg_.metrics_addr.empty()) {
            auto [host, port] = config::parse_host_port(cfg_.metrics_addr, "metrics_addr");
            server = std::make_unique<api::MetricsServer>(host, port, *latest_);
            server->start();
            LOG_INFO("serving metrics on http://%s:%u/metrics", host.c_str(), server->port());
        }
        if (forwarder_) {  // before the first publish: its self-metrics are on /metrics from the start
            forwarder_->start();
            LOG_INFO("forwarding every interval to %s", forwarder_->describe().c_str());
        }
        if (!embedded) drop_capabilities_after_startup();  // least privilege: probes attached, sockets bound (agent/privileges.h)

        // Each interval: every source adds to it, then /metrics and every sink get it.
        auto interval_now = [&](Clock::duration elapsed) {
            auto started = Clock::now();
            metrics::Interval iv;
            iv.elapsed_seconds = std::chrono::duration<double>(elapsed).count();
            for (auto* source : sources_) source->flush(iv);
            append_self_metrics(iv.families, std::chrono::duration<double>(Clock::now() - started).count());
            // Every output valid for its consumer whatever a source took in (metrics/output_sanitizer.h).
            output_sanitizer_.apply(iv.families);
            auto snap = std::make_shared<const metrics::Snapshot>(std::move(iv.families));
            latest_->publish(snap);
            if (api_) {
                name_pending_events();
                api_->published();
            }
            if (forwarder_)
                forwarder_->submit(unix_ms(), {snap}, std::move(iv.events), std::move(iv.service_checks));
        };
        publish_start();

        const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.interval));
        auto last = Clock::now();
        auto deadline = last + interval;
        int sig = 0;
        while ((sig = wait_for_stop(embedded ? nullptr : &signals, stop_, deadline)) == 0) {
            auto started = Clock::now();
            interval_now(started - last);
            last = started;
            log_busiest();
            // fixed-rate schedule; if we fell behind, skip ahead rather than burst
            deadline += interval;
            if (deadline < Clock::now()) deadline = Clock::now() + interval;
        }
        LOG_INFO("%s: detaching and exiting",
                 embedded ? "stop requested" : sig == SIGINT ? "SIGINT received" : "SIGTERM received");
        // One last, partial interval: what the kernel counted and the DogStatsD
        // server took in since the last one is published and handed to the
        // sinks (which spool what they cannot deliver) rather than dropped.
        interval_now(Clock::now() - last);
        if (server) server->stop();
        if (api_) api_->stop();
        if (forwarder_) forwarder_->stop();  // spills undelivered batches to the spool
        statsd_.reset();
        plugins_.reset();  // stops the scheduler and the workers
        events = {};  // stop and join before the probes go
        kernel_.reset();
        host_.reset();
        return 0;
    }

private:
    // The DogStatsD server; its listeners that cannot open are logged and left out.
    void start_statsd() {
        if (!cfg_.statsd.enabled) return;
        const auto& c = cfg_.statsd;
        statsd::StatsdServerOptions o;
        o.udp_listen = c.listen;
        o.socket_path = c.socket;
        o.tcp_listen = c.tcp_listen;
        o.udp_readers = c.udp_readers;
        o.origin_from_socket = c.origin_from_socket;
        o.origin_from_field = c.origin_from_field;
        o.percentiles = c.percentiles;
        o.max_contexts = c.max_contexts;
        o.receive_buffer_bytes = c.receive_buffer_bytes;
        // The sender's labels exactly as the kernel metrics of its cgroup carry
        // them: `cgroup` and the container tags (the tagger is thread-safe).
        const auto& tagger = host_->tagger();
        o.pid_labels = [&tagger](pid_t pid) { return tagger.labels_for_pid(pid); };
        // A `|c:<container-id>` field: the same labels, once that container's cgroup was tagged.
        o.container_labels = [&tagger](std::string_view id) { return tagger.labels_for_container_id(id); };
        statsd_ = std::make_unique<statsd::StatsdSource>(std::move(o));
        sources_.push_back(statsd_.get());
        if (auto where = statsd_->describe(); !where.empty())
            LOG_INFO("DogStatsD server listening on %s", where.c_str());
    }

    // The local API (docs/api.md): read-only, on a thread of its own; the flush
    // loop only stamps each publication. A socket that cannot be bound is one
    // error and the agent runs on without it, like a DogStatsD listener.
    void start_local_api() {
        if (cfg_.api_socket.empty()) return;
        api::LocalApiOptions o;
        o.socket_path = cfg_.api_socket;
        o.snapshot = latest_.get();
        o.events = &recent_events_;
        o.sources = [this] { return all_status(); };
        o.agent_info = [info = agent_info()] { return info; };
        o.interval_seconds = cfg_.interval;
        api_ = std::make_unique<api::LocalApiServer>(std::move(o));
        try {
            api_->start();
            LOG_INFO("local API on %s", cfg_.api_socket.c_str());
        } catch (const std::runtime_error& e) {
            LOG_ERROR("%s; no local API (tracer top and tracer status cannot reach this agent)", e.what());
            api_.reset();
        }
    }

    // Every source's parts, the metadata providers and the sinks (any thread).
    std::vector<metrics::SourceStatus> all_status() const {
        std::vector<metrics::SourceStatus> out;
        for (const auto* source : sources_)
            for (auto& s : source->status()) out.push_back(std::move(s));
        for (auto& s : host_->status()) out.push_back(std::move(s));
        if (forwarder_)
            for (auto& s : forwarder_->status()) out.push_back(std::move(s));
        return out;
    }

    // The facts of this run that do not change, for /v1/status.
    nlohmann::json agent_info() const {
        const auto& f = probes::kernel_features();
        nlohmann::json probes_json = nlohmann::json::object();
        for (const auto& r : kernel_->report()) {
            if (r.attached)
                probes_json[r.name] = {{"attached", r.hooks}, {"build", r.build}};
            else
                probes_json[r.name] = {{"attached", nlohmann::json::array()}, {"error", r.error}};
        }
        const auto& keying = host_->keying();
        return {{"kernel", {{"release", f.release}, {"features", probes::describe_features(f)}}},
                {"probes", std::move(probes_json)},
                {"cgroup", {{"hierarchy", keying.hierarchy}, {"mount_point", keying.mount_point},
                            {"keying", keying.describe()}}},
                {"host_root", cfg_.host_root.empty() ? "/" : cfg_.host_root},
                {"api_events", cfg_.api_events}};
    }

    // An event for /v1/events (event thread), named at the next publish.
    void keep_event(uint64_t cgroup_id, nlohmann::json event) {
        // Only the newest events the API keeps can matter: older ones give way
        // here, counted as evicted like those the API's own ring lets go.
        std::lock_guard lock(pending_mu_);
        if (pending_events_.size() >= recent_events_.capacity()) {
            pending_events_.pop_front();
            ++pending_evicted_;
        }
        pending_events_.emplace_back(cgroup_id, std::move(event));
    }

    // The events of the interval, named after their cgroups (the flush thread owns the resolver).
    void name_pending_events() {
        std::deque<std::pair<uint64_t, nlohmann::json>> pending;
        uint64_t evicted = 0;
        {
            std::lock_guard lock(pending_mu_);
            pending.swap(pending_events_);
            std::swap(evicted, pending_evicted_);
        }
        if (evicted) recent_events_.count_evicted(evicted);
        for (auto& [id, j] : pending) {
            // cgroups created since the last scan were learnt from the kernel's mkdir
            // records this interval (no rescan here: the directory's own rescan tells it which are gone)
            auto path = host_->resolver().lookup(id);
            j["cgroup"] = path ? *path : std::string(CgroupDirectory::kUnresolved);
            if (path)
                if (auto name = host_->container_name(*path); name && !name->empty()) j["container"] = *name;
            recent_events_.add(std::move(j));
        }
    }

    // The first snapshot, before any interval: the agent's own series.
    void publish_start() {
        metrics::Snapshot snap;
        append_self_metrics(snap, 0);
        latest_->publish(std::make_shared<const metrics::Snapshot>(std::move(snap)));
    }

    void append_self_metrics(metrics::Snapshot& snap, double collection_seconds) const {
        auto info = gauge("tracer.build_info", "", "tracer's version; always 1.");
        info.samples.push_back({{{"version", TRACER_VERSION}}, 1, {}});
        snap.push_back(std::move(info));

        auto up = gauge("tracer.source.up", "",
                        "1 when a part of a source works (a kernel area, a DogStatsD listener, a plugin "
                        "instance, a metadata provider), 0 when not; `tracer status` says why.");
        for (const auto* source : sources_)
            for (const auto& s : source->status())
                up.samples.push_back({{{"source", s.source}, {"name", s.name}}, s.up ? 1.0 : 0.0, {}});
        for (const auto& s : host_->status())
            up.samples.push_back({{{"source", s.source}, {"name", s.name}}, s.up ? 1.0 : 0.0, {}});
        snap.push_back(std::move(up));

        if (forwarder_) forwarder_->append_families(snap);

        auto took = gauge("tracer.collection.duration", "seconds", "Time the last collection took.");
        took.samples.push_back({{}, collection_seconds, {}});
        snap.push_back(std::move(took));
    }

    void log_busiest() const {
        if (cfg_.top_cgroups == 0 || kernel_->loaded() == 0) return;
        std::string line = kernel_->busiest_line(cfg_.top_cgroups);
        LOG_INFO("top cgroups by syscalls/s: %s", line.empty() ? "(none)" : line.c_str());
    }

    config::AgentConfig cfg_;
    std::string btf_path_;
    std::stop_token stop_;
    std::shared_ptr<metrics::LatestSnapshot> latest_;
    std::unique_ptr<forwarder::Forwarder> forwarder_;
    std::unique_ptr<HostContext> host_;
    std::unique_ptr<KernelSource> kernel_;
    std::unique_ptr<statsd::StatsdSource> statsd_;
    std::unique_ptr<collectors::PluginRunner> plugins_;  // null without conf.d files
    std::vector<metrics::Source*> sources_;  // in flush order
    metrics::OutputSanitizer output_sanitizer_;
    // The local API: recent kernel events, named on the flush thread.
    std::mutex pending_mu_;
    std::deque<std::pair<uint64_t, nlohmann::json>> pending_events_;  // at most recent_events_'s capacity
    uint64_t pending_evicted_ = 0;
    api::RecentEvents recent_events_;
    std::unique_ptr<api::LocalApiServer> api_;  // stopped before the sources go  // every output valid whatever came in
};

}  // namespace

int run_agent(const RunOptions& options) {
    // glibc gives each thread that allocates an arena of its own, up to 8 per
    // CPU, and each keeps its high-water mark: the HTTP threads' multi-MB
    // /metrics renders made RSS creep up with cgroup churn (measured over four
    // rounds of 1000 cgroups: 60, 65, 77, 90 MiB, still growing; with two
    // arenas 67, 81, 93, 93: it levels off). The hot paths (statsd readers,
    // ring drains) allocate little, so two arenas cost no contention there.
    // MALLOC_ARENA_MAX, when set, still decides.
    if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
    return Agent(options).run();
}

}  // namespace tracer::agent
