#include "agent/agent.h"

#include "agent/cgroup_directory.h"
#include "agent/net_collector.h"
#include "agent/proc_collector.h"
#include "agent/sched_collector.h"
#include "agent/syscall_collector.h"
#include "api/event_json.h"
#include "api/local_api_server.h"
#include "api/metrics_server.h"
#include "containers/cgroup_layout.h"
#include "containers/cgroup_resolver.h"
#include "forwarder/forwarder.h"
#include "containers/container_metadata.h"
#include "containers/container_tagger.h"
#include "containers/docker_client.h"
#include "containers/oci_bundle.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/kernel_features.h"
#include "probes/cgroup_events_probe.h"
#include "probes/syscall_names.h"
#include "probes/net_probe.h"
#include "probes/proc_probe.h"
#include "probes/sched_probe.h"
#include "probes/syscall_probe.h"
#include "statsd/process_origin.h"
#include "statsd/statsd_server.h"
#include "tracer_version.h"

#include <malloc.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <mutex>
#include <utility>

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
// A requested `stop` (in-process use) counts as SIGTERM, seen within 100 ms.
int wait_for_signal(const sigset_t& signals, Clock::time_point deadline, const std::stop_token& stop) {
    for (;;) {
        if (stop.stop_requested()) return SIGTERM;
        auto left = std::min<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(100));
        if (left <= Clock::duration::zero()) return 0;
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        int sig = sigtimedwait(&signals, nullptr, &ts);
        if (sig > 0) return sig;
        if (errno != EINTR && Clock::now() >= deadline) return 0;  // EAGAIN: the deadline passed
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
        : cfg_(options.config), btf_path_(options.btf_path), stop_(options.stop) {}

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
        // Sinks are built (API keys read, spools opened) before anything is loaded, so a
        // missing key stops the agent at once; they start sending after /metrics is up.
        if (!cfg_.sinks.empty()) forwarder_ = std::make_unique<forwarder::Forwarder>(cfg_);

        auto layout = containers::read_cgroup_layout("/proc/self/mountinfo",
                                                     cfg_.host_root == "/" ? "" : cfg_.host_root);
        auto keying = containers::choose_cgroup_keying(layout, cfg_.cgroup_hierarchy,
                                                       host_path(cfg_, "/proc/cgroups"));
        LOG_INFO("host cgroup layout: %s; per-cgroup data keyed on the %s", layout.describe().c_str(),
                 keying.describe().c_str());
        containers::CgroupResolver resolver(keying.mount_point, keying.mount_root);
        resolver_ = &resolver;  // local API: names the cgroups of events, on the flush thread
        CgroupDirectory directory(resolver, cfg_.max_cgroups);
        if (const auto* v2 = layout.unified()) cgroup2_root_ = v2->mount_point;
        // Container names: providers fill the cache on their own threads; the
        // flush loop only reads it (containers/container_tagger.h).
        metadata_ = std::make_unique<containers::MetadataCache>(size_t(cfg_.max_cgroups) * 2 + 64);
        auto& metadata = *metadata_;
        containers::ContainerTaggerOptions tag_options;
        tag_options.labels_as_tags = cfg_.container_labels_as_tags;
        tag_options.include = cfg_.container_include;
        tag_options.exclude = cfg_.container_exclude;
        tag_options.proc_root = host_path(cfg_, "/proc");
        tag_options.keying = keying;
        tagger_ = std::make_unique<containers::ContainerTagger>(metadata, tag_options);
        auto lookups = start_metadata_providers(metadata);
        directory.use_tagger(tagger_.get(), &metadata);
        try {
            cgroup_events_ = std::make_unique<probes::CgroupEventsProbe>(keying, host_path(cfg_, "/proc/cgroups"),
                                                                          btf_path_);
            directory.use_cgroup_events(cgroup_events_.get());
        } catch (const probes::ProbeError& e) {
            probe_errors_.push_back({"kernel", "cgroup_events", false, e.what()});
            LOG_WARN("cgroup events probe not loaded; cgroups that live shorter than a scan count as "
                     "cgroup=\"<unresolved>\": %s", e.what());
        }
        load_probes(keying);

        // Process events arrive in batches (the kernel does not wake us per
        // event); this thread drains them on a short timer. The agent keeps
        // their counts from the kernel maps; OOM kills are also logged.
        std::jthread events;
        if (proc_probe_) {
            events = std::jthread([this](std::stop_token stop) {
                while (!stop.stop_requested()) {
                    proc_probe_->wait(100);
                    proc_probe_->drain([this](const probes::ProcEvent& e) { on_event(e); });
                    if (net_probe_ && emit_tcp_events_)  // local API: closed connections
                        net_probe_->drain([this](const probes::NetConnection& c) { keep_event(c.cgroup_id, api::connection_event_json(c)); });
                }
            });
        }

        start_statsd(keying);

        metrics::LatestSnapshot latest;
        // local API (docs/api.md): read-only, on a thread of its own; the flush loop only stamps each publication.
        if (!cfg_.api_socket.empty()) {
            api::LocalApiOptions o;
            o.socket_path = cfg_.api_socket;
            o.snapshot = &latest;
            o.events = &recent_events_;
            o.sources = [this] { return source_status(); };
            o.agent_info = [info = agent_info(keying)] { return info; };
            o.interval_seconds = cfg_.interval;
            api_ = std::make_unique<api::LocalApiServer>(std::move(o));
            try {  // like a DogStatsD listener: the agent runs on without it
                api_->start();
                LOG_INFO("local API on %s", cfg_.api_socket.c_str());
            } catch (const std::runtime_error& e) {
                LOG_ERROR("%s; no local API (tracer top and tracer status cannot reach this agent)", e.what());
                api_.reset();
            }
        }
        std::unique_ptr<api::MetricsServer> server;
        if (!cfg_.metrics_addr.empty()) {
            auto [host, port] = config::parse_host_port(cfg_.metrics_addr, "metrics_addr");
            server = std::make_unique<api::MetricsServer>(host, port, latest);
            server->start();
            LOG_INFO("serving metrics on http://%s:%u/metrics", host.c_str(), server->port());
        }
        if (forwarder_) {  // before the first publish: its self-metrics are on /metrics from the start
            forwarder_->start();
            LOG_INFO("forwarding every interval to %s", forwarder_->describe().c_str());
        }
        publish(latest, directory, 0);

        // Each interval's snapshot goes to /metrics and, with this interval's
        // statsd events and service checks, to every sink.
        auto publish_and_forward = [&](double collection_seconds) {
            publish(latest, directory, collection_seconds);
            if (forwarder_)
                forwarder_->submit(unix_ms(), {latest.get()}, std::exchange(statsd_events_, {}),
                                   std::exchange(statsd_checks_, {}));
        };
        const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.interval));
        auto last = Clock::now();
        auto deadline = last + interval;
        int sig = 0;
        while ((sig = wait_for_signal(signals, deadline, stop_)) == 0) {
            auto started = Clock::now();
            collect_interval(directory, collectors_, started - last);
            last = started;
            double took = std::chrono::duration<double>(Clock::now() - started).count();
            publish_and_forward(took);
            log_top();
            // fixed-rate schedule; if we fell behind, skip ahead rather than burst
            deadline += interval;
            if (deadline < Clock::now()) deadline = Clock::now() + interval;
        }
        LOG_INFO("%s received: detaching and exiting", sig == SIGINT ? "SIGINT" : "SIGTERM");
        // One last, partial interval: what the kernel counted and the DogStatsD
        // server took in since the last one is published and handed to the
        // sinks (which spool what they cannot deliver) rather than dropped.
        collect_interval(directory, collectors_, Clock::now() - last);
        publish_and_forward(0);
        if (server) server->stop();
        if (api_) api_->stop();
        if (forwarder_) forwarder_->stop();  // spills undelivered batches to the spool
        if (statsd_) statsd_->stop();
        events = {};  // stop and join before the probes go
        lookups.reset();
        docker_.reset();
        return 0;     // probes (and every BPF link) are destroyed on the way out
    }

private:
    static std::string joined(const std::vector<std::string>& parts) {
        std::string out;
        for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
        return out;
    }

    // The metadata providers found on this host (each optional): the Docker
    // Engine API socket, containerd/CRI-O OCI bundles under /run.
    std::unique_ptr<containers::MetadataLookups> start_metadata_providers(containers::MetadataCache& cache) {
        std::vector<containers::MetadataLookups::Lookup> lookups;
        if (!cfg_.docker_socket.empty()) {
            // Followed even when absent now: a dockerd started later is picked up.
            std::string socket = host_path(cfg_, cfg_.docker_socket);
            docker_ = std::make_unique<containers::DockerMetadataProvider>(socket, cache);
            lookups.push_back([d = docker_.get()](const std::string& id) { return d->inspect(id); });
        }
        auto oci = std::make_shared<containers::OciBundleReader>(host_path(cfg_, "/run"));
        if (oci->available()) {
            LOG_INFO("containerd/CRI-O bundles under %s: containers named from their annotations",
                     host_path(cfg_, "/run").c_str());
            lookups.push_back([oci](const std::string& id) { return oci->lookup(id); });
        }
        if (lookups.empty()) return nullptr;
        return std::make_unique<containers::MetadataLookups>(cache, std::move(lookups));
    }

    // Loads every probe; one that does not load is an error for its area only.
    void load_probes(const containers::CgroupKeying& keying) {
        // The syscalls with a latency histogram are the ones the kernel times.
        std::vector<std::string> unknown;
        auto timed = probes::syscall_numbers(cfg_.syscalls.histogram_syscalls, unknown);
        for (const auto& name : unknown)
            LOG_WARN("syscalls.histogram_syscalls: '%s' is not a syscall on this architecture; ignored", name.c_str());
        try {
            probes::SyscallProbeOptions o;
            o.latency = cfg_.syscalls.latency;
            o.timed_syscalls = timed;
            o.map_entries = cfg_.syscalls.map_entries;
            o.max_threads = cfg_.syscalls.max_threads;
            o.keying = keying;
            o.btf_path = btf_path_;
            syscall_probe_ = std::make_unique<probes::SyscallProbe>(o);
            syscalls_ = std::make_unique<SyscallCollector>(*syscall_probe_,
                                                           SyscallCollectorOptions{cfg_.syscalls.latency, timed});
            collectors_.push_back(syscalls_.get());
            LOG_INFO("syscalls probe attached (%s; %s; latency %s)", joined(syscall_probe_->attached()).c_str(),
                     syscall_probe_->variant_description(), cfg_.syscalls.latency ? "on" : "off");
        } catch (const probes::ProbeError& e) {
            LOG_ERROR("syscalls probe not loaded, no syscall metrics: %s", e.what());
            probe_errors_.push_back({"kernel", "syscalls", false, e.what()});
        }
        try {
            probes::SchedProbeOptions o;
            o.keying = keying;
            o.btf_path = btf_path_;
            sched_probe_ = std::make_unique<probes::SchedProbe>(o);
            sched_ = std::make_unique<SchedCollector>(*sched_probe_);
            collectors_.push_back(sched_.get());
            LOG_INFO("scheduling probe attached (%s; %s)", joined(sched_probe_->attached()).c_str(),
                     sched_probe_->variant_description());
        } catch (const probes::ProbeError& e) {
            LOG_ERROR("scheduling probe not loaded, no scheduling metrics: %s", e.what());
            probe_errors_.push_back({"kernel", "sched", false, e.what()});
        }
        try {
            probes::ProcProbeOptions o;
            o.keying = keying;
            o.btf_path = btf_path_;
            // The counters come from the kernel's maps; of the events, the
            // agent only logs OOM kills, so only those cross the ring.
            o.emitted_events = probes::proc_event_bit(probes::ProcEventKind::Oom);
            for (const auto& kind : cfg_.api_events) {  // local API: the kinds api_events asks for
                if (kind == "exec") o.emitted_events |= probes::proc_event_bit(probes::ProcEventKind::Exec);
                if (kind == "fork") o.emitted_events |= probes::proc_event_bit(probes::ProcEventKind::Fork);
                if (kind == "exit") o.emitted_events |= probes::proc_event_bit(probes::ProcEventKind::Exit);
            }
            proc_probe_ = std::make_unique<probes::ProcProbe>(o);
            proc_ = std::make_unique<ProcCollector>(*proc_probe_);
            collectors_.push_back(proc_.get());
            LOG_INFO("process probe attached (%s; %s)", joined(proc_probe_->attached()).c_str(),
                     proc_probe_->variant_description());
        } catch (const probes::ProbeError& e) {
            LOG_ERROR("process probe not loaded, no process metrics: %s", e.what());
            probe_errors_.push_back({"kernel", "proc", false, e.what()});
        }
        try {
            probes::NetProbeOptions o;
            o.keying = keying;
            o.cgroup2_root = cgroup2_root_;
            o.btf_path = btf_path_;
            emit_tcp_events_ = std::count(cfg_.api_events.begin(), cfg_.api_events.end(), "tcp") > 0;
            o.emit_events = emit_tcp_events_;
            net_probe_ = std::make_unique<probes::NetProbe>(o);
            net_ = std::make_unique<NetCollector>(*net_probe_);
            collectors_.push_back(net_.get());
            LOG_INFO("network probe attached (%s; %s)", joined(net_probe_->attached()).c_str(),
                     net_probe_->variant_description());
        } catch (const probes::ProbeError& e) {
            LOG_ERROR("network probe not loaded, no network metrics: %s", e.what());
            probe_errors_.push_back({"kernel", "net", false, e.what()});
        }
        if (collectors_.empty()) throw probes::ProbeError("no probe could be loaded (see the errors above)");
    }

    // The DogStatsD server; its listeners that cannot open are logged and left out.
    void start_statsd(const containers::CgroupKeying& keying) {
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
        o.pid_labels = [this, hierarchy = keying.hierarchy](pid_t pid) {
            return tagger_ ? tagger_->labels_for_pid(pid) : statsd::cgroup_labels_of_pid(pid, hierarchy);
        };
        // A `|c:<container-id>` field: the same labels, once that container's cgroup was tagged.
        if (tagger_)
            o.container_labels = [this](std::string_view id) { return tagger_->labels_for_container_id(id); };
        // Events and service checks arrive during publish() (statsd_->flush(), this thread)
        // and go to the forwarder with the interval's snapshot.
        o.on_events = [this](std::vector<metrics::Event>&& e, std::vector<metrics::ServiceCheck>&& c) {
            LOG_DEBUG("statsd: %zu event(s), %zu service check(s) this interval", e.size(), c.size());
            if (!forwarder_) return;
            for (auto& x : e) statsd_events_.push_back(std::move(x));
            for (auto& x : c) statsd_checks_.push_back(std::move(x));
        };
        statsd_ = std::make_unique<statsd::StatsdServer>(std::move(o));
        statsd_->start();
        std::string where;
        if (statsd_->udp_port()) where += "udp " + c.listen.substr(0, c.listen.rfind(':') + 1) + std::to_string(statsd_->udp_port());
        if (statsd_->socket_listening()) where += (where.empty() ? "" : ", ") + std::string("unix ") + c.socket;
        if (statsd_->tcp_port()) where += (where.empty() ? "" : ", ") + std::string("tcp port ") + std::to_string(statsd_->tcp_port());
        if (!where.empty()) LOG_INFO("DogStatsD server listening on %s", where.c_str());
    }

    void on_event(const probes::ProcEvent& e) {
        if (api_) keep_event(e.cgroup_id, api::process_event_json(e));  // local API
        if (e.kind != probes::ProcEventKind::Oom) return;
        LOG_WARN("OOM kill: pid %u (%s), memory cgroup id %llu, %llu MiB virtual", e.pid, e.comm.c_str(),
                 static_cast<unsigned long long>(e.oom_memcg_id),
                 static_cast<unsigned long long>(e.oom_total_vm_pages * 4096 / (1024 * 1024)));
    }

    // local API: an event for /v1/events, named at the next publish (the flush thread owns the resolver).
    void keep_event(uint64_t cgroup_id, nlohmann::json event) {
        std::lock_guard lock(pending_mu_);
        if (pending_events_.size() < kMaxPendingEvents) pending_events_.emplace_back(cgroup_id, std::move(event));
    }

    // local API: the events of the interval, named after their cgroups (flush thread: owns the resolver).
    void name_pending_events() {
        std::vector<std::pair<uint64_t, nlohmann::json>> pending;
        {
            std::lock_guard lock(pending_mu_);
            pending.swap(pending_events_);
        }
        for (auto& [id, j] : pending) {
            auto path = resolver_ ? resolver_->lookup(id) : std::nullopt;
            j["cgroup"] = path ? *path : std::string(CgroupDirectory::kUnresolved);
            recent_events_.add(std::move(j));
        }
    }

    // local API: /v1/status's per-source health.
    std::vector<metrics::SourceStatus> source_status() const {
        std::vector<metrics::SourceStatus> out;
        auto probe = [&](const char* name, const auto& p) {
            if (p) out.push_back({"kernel", name, true, joined(p->attached()) + "; " + p->variant_description()});
        };
        probe("syscalls", syscall_probe_);
        probe("sched", sched_probe_);
        probe("proc", proc_probe_);
        probe("net", net_probe_);
        if (cgroup_events_) out.push_back({"kernel", "cgroup_events", true, "attached"});
        for (const auto& e : probe_errors_) out.push_back(e);
        if (docker_) {
            struct stat st{};
            bool there = ::stat(host_path(cfg_, cfg_.docker_socket).c_str(), &st) == 0;
            out.push_back({"containers", "docker", true,
                           there ? host_path(cfg_, cfg_.docker_socket) : "no socket at " + host_path(cfg_, cfg_.docker_socket) +
                                                                        " (followed: a dockerd started later is used)"});
        }
        if (statsd_) {
            bool any = statsd_->udp_port() || statsd_->socket_listening() || statsd_->tcp_port();
            std::string where;
            if (statsd_->udp_port()) where += "udp port " + std::to_string(statsd_->udp_port());
            if (statsd_->socket_listening()) where += (where.empty() ? "" : ", ") + std::string("unix ") + cfg_.statsd.socket;
            if (statsd_->tcp_port()) where += (where.empty() ? "" : ", ") + std::string("tcp port ") + std::to_string(statsd_->tcp_port());
            out.push_back({"statsd", "dogstatsd", any, any ? where : "no listener could open (see the log)"});
        }
        if (forwarder_)
            for (const auto& sink : cfg_.sinks)
                out.push_back({"sinks", sink.name.empty() ? sink.type : sink.name, true, sink.type + " -> " + sink.url});
        return out;
    }

    // local API: the facts of this run that do not change, for /v1/status.
    nlohmann::json agent_info(const containers::CgroupKeying& keying) const {
        const auto& f = probes::kernel_features();
        nlohmann::json probes_json = nlohmann::json::object();
        auto probe = [&](const char* name, const auto& p) {
            if (p) probes_json[name] = {{"attached", p->attached()}, {"build", p->variant_description()}};
        };
        probe("syscalls", syscall_probe_);
        probe("sched", sched_probe_);
        probe("proc", proc_probe_);
        probe("net", net_probe_);
        for (const auto& e : probe_errors_) probes_json[e.name] = {{"attached", nlohmann::json::array()}, {"error", e.detail}};
        return {{"kernel", {{"release", f.release}, {"features", probes::describe_features(f)}}},
                {"probes", std::move(probes_json)},
                {"cgroup", {{"hierarchy", keying.hierarchy}, {"mount_point", keying.mount_point}, {"keying", keying.describe()}}},
                {"host_root", cfg_.host_root.empty() ? "/" : cfg_.host_root},
                {"api_events", cfg_.api_events}};
    }

    void publish(metrics::LatestSnapshot& latest, const CgroupDirectory& directory, double collection_seconds) {
        auto snap = std::make_shared<metrics::Snapshot>();
        for (const auto* c : collectors_) c->append_families(*snap);
        directory.apply_tags(*snap, 0);  // every family so far is per-cgroup
        if (statsd_) {
            statsd::StatsdFlush flushed = statsd_->flush();
            for (auto& f : flushed.families) snap->push_back(std::move(f));
        }

        auto info = gauge("tracer.build_info", "", "tracer's version; always 1.");
        info.samples.push_back({{{"version", TRACER_VERSION}}, 1, {}});
        snap->push_back(std::move(info));

        metrics::Family failures{"tracer.bpf.map_update_failures", "",
                                 "Failed BPF map updates (map full): events not counted or not timed.",
                                 metrics::MetricType::Counter, {}};
        auto failed = [&](const char* map, uint64_t n) { failures.samples.push_back({{{"map", map}}, double(n), {}}); };
        if (syscall_probe_) {
            auto d = syscall_probe_->drops();
            failed("syscall_stats", d[SYSCALL_DROP_STATS_FULL]);
            failed("syscall_inflight", d[SYSCALL_DROP_INFLIGHT_FULL]);
        }
        if (sched_probe_) {
            auto d = sched_probe_->drops();
            failed("sched_stats", d[SCHED_DROP_STATS_FULL]);
            failed("sched_tasks", d[SCHED_DROP_TASK_SLOT]);
        }
        metrics::Family dropped{"tracer.events.dropped", "",
                                "Events lost because their ring buffer was full (still counted in the counters).",
                                metrics::MetricType::Counter, {}};
        if (proc_probe_) {
            auto d = proc_probe_->drops();
            failed("proc_counts", d[PROC_DROP_COUNTS_FULL]);
            failed("proc_oom_pending", d[PROC_DROP_OOM_PENDING_FULL]);
            dropped.samples.push_back({{{"ring", "proc_events"}}, double(d[PROC_DROP_RINGBUF_FULL]), {}});
        }
        if (net_probe_) {
            auto d = net_probe_->drops();
            failed("net_stats", d[NET_DROP_STATS_FULL]);
            failed("net_socks", d[NET_DROP_SOCK_STORAGE]);
            dropped.samples.push_back({{{"ring", "net_events"}}, double(d[NET_DROP_RINGBUF_FULL]), {}});
            metrics::Family unattributed{"tracer.net.unattributed", "",
                                         "Packets and TCP events of sockets with no known owner (see docs/metrics.md).",
                                         metrics::MetricType::Counter, {}};
            unattributed.samples.push_back({{}, double(d[NET_DROP_UNATTRIBUTED]), {}});
            snap->push_back(std::move(unattributed));
        }
        if (cgroup_events_)
            dropped.samples.push_back({{{"ring", "cgroup_events"}}, double(cgroup_events_->drops()), {}});
        snap->push_back(std::move(failures));
        snap->push_back(std::move(dropped));

        auto tracked = gauge("tracer.cgroups.tracked", "", "Cgroups with series of their own.");
        tracked.samples.push_back({{}, double(directory.tracked()), {}});
        snap->push_back(std::move(tracked));

        auto limited = gauge("tracer.cardinality.limited", "",
                             "What the cardinality limits cut in the last interval: cgroups folded into "
                             "cgroup=\"<overflow>\" (max_cgroups), syscall series without a latency "
                             "histogram (syscalls.histogram_syscalls).");
        limited.samples.push_back({{{"limit", "max_cgroups"}}, double(directory.overflowed()), {}});
        if (syscalls_)
            limited.samples.push_back({{{"limit", "histogram_syscalls"}}, double(syscalls_->histograms_omitted()), {}});
        snap->push_back(std::move(limited));

        if (forwarder_) forwarder_->append_families(*snap);

        auto took = gauge("tracer.collection.duration", "seconds", "Time the last collection took.");
        took.samples.push_back({{}, collection_seconds, {}});
        snap->push_back(std::move(took));

        latest.publish(std::move(snap));
        if (api_) {  // local API
            name_pending_events();
            api_->published();
        }
    }

    void log_top() {
        if (cfg_.top_cgroups == 0 || !syscalls_) return;
        std::string line;
        for (const auto& r : syscalls_->top_cgroups(cfg_.top_cgroups)) {
            std::string name = r.cgroup;  // a container by its name (tag 2, container_name) once known
            if (tagger_)
                if (auto t = tagger_->tags_for_path(r.cgroup); t.known && !t.labels[2].value.empty())
                    name = t.labels[2].value;
            line += (line.empty() ? "" : ", ") + name + " " + human_rate(r.syscalls_per_second);
        }
        if (line.empty()) line = "(none)";
        LOG_INFO("top cgroups by syscalls/s: %s", line.c_str());
    }

    config::AgentConfig cfg_;
    std::string btf_path_;
    std::unique_ptr<containers::MetadataCache> metadata_;  // outlives its providers (declared first)
    std::unique_ptr<containers::ContainerTagger> tagger_;  // labels_for_pid() for the DogStatsD server
    std::unique_ptr<containers::DockerMetadataProvider> docker_;
    std::unique_ptr<probes::CgroupEventsProbe> cgroup_events_;
    std::unique_ptr<probes::SyscallProbe> syscall_probe_;
    std::unique_ptr<probes::SchedProbe> sched_probe_;
    std::unique_ptr<probes::ProcProbe> proc_probe_;
    std::unique_ptr<probes::NetProbe> net_probe_;
    std::unique_ptr<SyscallCollector> syscalls_;
    std::unique_ptr<SchedCollector> sched_;
    std::unique_ptr<ProcCollector> proc_;
    std::unique_ptr<NetCollector> net_;
    std::string cgroup2_root_;  // where the network probe's cgroup_skb programs attach ("" = no cgroup2)
    std::vector<CgroupCollector*> collectors_;
    std::unique_ptr<forwarder::Forwarder> forwarder_;
    std::unique_ptr<statsd::StatsdServer> statsd_;
    std::vector<metrics::Event> statsd_events_;  // of the interval being published, for the forwarder
    std::vector<metrics::ServiceCheck> statsd_checks_;
    // local API (docs/api.md); last, so that its thread stops before anything it reads goes
    std::stop_token stop_;
    static constexpr size_t kMaxPendingEvents = 65536;  // per interval; more are not kept
    api::RecentEvents recent_events_;
    std::unique_ptr<api::LocalApiServer> api_;
    const containers::CgroupResolver* resolver_ = nullptr;
    bool emit_tcp_events_ = false;
    std::mutex pending_mu_;
    std::vector<std::pair<uint64_t, nlohmann::json>> pending_events_;
    std::vector<metrics::SourceStatus> probe_errors_;
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
