// `tracer trace`: process events and closed TCP connections live, one line
// each (text or JSON lines).
// Loads its own programs; needs no running agent.
#include "cli/commands.h"
#include "containers/cgroup_layout.h"
#include "containers/cgroup_path_parser.h"
#include "containers/cgroup_resolver.h"
#include "containers/container_metadata.h"
#include "containers/docker_client.h"
#include "containers/oci_bundle.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/net_probe.h"
#include "probes/proc_probe.h"

#include <CLI/CLI.hpp>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <ctime>
#include <memory>
#include <optional>
#include <tuple>
#include <set>
#include <sstream>

namespace tracer::cli {
namespace {

using probes::ProcEvent;
using probes::ProcEventKind;

const char* kind_name(ProcEventKind k) {
    switch (k) {
        case ProcEventKind::Exec: return "exec";
        case ProcEventKind::Fork: return "fork";
        case ProcEventKind::Exit: return "exit";
        case ProcEventKind::Oom: return "oom";
    }
    return "?";
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

// CLOCK_MONOTONIC event time -> "2026-11-27T03:04:05.123456Z"
std::string wall_time(uint64_t mono_ns) {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    int64_t age = (int64_t(mono.tv_sec) * 1000000000 + mono.tv_nsec) - int64_t(mono_ns);
    int64_t at = int64_t(real.tv_sec) * 1000000000 + real.tv_nsec - age;
    time_t secs = at / 1000000000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>((at % 1000000000) / 1000));
    return buf;
}

bool under(const std::string& path, const std::string& prefix) {
    if (prefix.empty() || prefix == "/") return true;
    return path == prefix || (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
                              path[prefix.size()] == '/');
}

// Container names for the trace: the Docker API (kept current by its event
// stream) and containerd/CRI-O bundles; a name not cached yet is looked up
// right away (a trace may wait; the agent's flush never does).
class ContainerNames {
public:
    ContainerNames(const std::string& docker_socket) : oci_("/run") {
        std::error_code ec;
        if (!docker_socket.empty() && std::filesystem::exists(docker_socket, ec))
            docker_ = std::make_unique<containers::DockerMetadataProvider>(docker_socket, cache_);
    }
    // The container of a cgroup path, if it is one and it is known.
    std::optional<containers::ContainerInfo> of(const std::string& cgroup_path) {
        auto ref = containers::container_from_cgroup_path(cgroup_path);
        if (!ref) return std::nullopt;
        auto info = cache_.find(ref->id);
        if (!info && docker_) info = docker_->inspect(ref->id);
        if (!info && oci_.available()) info = oci_.lookup(ref->id);
        if (info) cache_.put(*info);
        return info;
    }

private:
    containers::MetadataCache cache_{4096};  // outlives the provider below
    std::unique_ptr<containers::DockerMetadataProvider> docker_;
    containers::OciBundleReader oci_;
};

bool is_container(const containers::ContainerInfo& info, const std::string& wanted) {
    return info.name == wanted || (wanted.size() >= 4 && info.id.rfind(wanted, 0) == 0);
}

// Fields of one event, in order, as (name, value, is_string).
std::vector<std::tuple<std::string, std::string, bool>> fields(const ProcEvent& e, const std::string& cgroup,
                                                               const std::string& container) {
    std::vector<std::tuple<std::string, std::string, bool>> f{
        {"pid", std::to_string(e.pid), false},
        {"ppid", std::to_string(e.ppid), false},
        {"comm", e.comm, true},
        {"cgroup", cgroup, true},
    };
    if (!container.empty()) f.emplace_back("container", container, true);
    switch (e.kind) {
        case ProcEventKind::Exec:
            f.emplace_back("filename", e.filename, true);
            break;
        case ProcEventKind::Fork:
            break;
        case ProcEventKind::Exit:
            if (WIFSIGNALED(e.exit_code))
                f.emplace_back("signal", std::to_string(WTERMSIG(e.exit_code)), false);
            else
                f.emplace_back("exit_code", std::to_string(WEXITSTATUS(e.exit_code)), false);
            f.emplace_back("lifetime_seconds", std::to_string(e.lifetime_ns / 1e9), false);
            break;
        case ProcEventKind::Oom:
            f.emplace_back("memcg_id", std::to_string(e.oom_memcg_id), false);
            f.emplace_back("total_vm_bytes", std::to_string(e.oom_total_vm_pages * 4096), false);
            f.emplace_back("trigger_tgid", std::to_string(e.oom_trigger_tgid), false);
            break;
    }
    return f;
}

// A closed TCP connection's fields, as for process events.
std::vector<std::tuple<std::string, std::string, bool>> fields(const probes::NetConnection& c, const std::string& cgroup,
                                                               const std::string& container) {
    char rtt[32];
    std::snprintf(rtt, sizeof rtt, "%.6f", c.srtt_us / 1e6);
    std::vector<std::tuple<std::string, std::string, bool>> f{
        {"pid", std::to_string(c.tgid), false},
        {"comm", c.comm, true},
        {"cgroup", cgroup, true},
    };
    if (!container.empty()) f.emplace_back("container", container, true);
    f.insert(f.end(), {
        {"direction", c.inbound ? "inbound" : "outbound", true},
        {"local", c.local, true},
        {"remote", c.remote, true},
        {"tx_bytes", std::to_string(c.tx_bytes), false},
        {"rx_bytes", std::to_string(c.rx_bytes), false},
        {"lifetime_seconds", std::to_string(c.lifetime_ns / 1e9), false},
        {"rtt_seconds", rtt, false},
    });
    return f;
}

}  // namespace

CLI::App* add_trace_command(CLI::App& app, TraceFlags& f) {
    auto* trace = app.add_subcommand(
        "trace", "Stream process events and closed TCP connections live, one line each, until Ctrl-C");
    trace->add_option("--events", f.events, "Comma-separated: exec, fork, exit, oom, tcp [default: all]")
        ->delimiter(',')
        ->check(CLI::IsMember({"exec", "fork", "exit", "oom", "tcp"}));
    trace->add_option("--cgroup", f.cgroup, "Only events of this cgroup path and the cgroups below it");
    trace->add_option("--container", f.container,
                      "Only events of this container (name, or an id prefix of 4+ hex digits)");
    trace->add_option("--docker-socket", f.docker_socket, "Docker Engine API socket that names containers")
        ->capture_default_str();
    trace->add_option("--format", f.format, "text or json (JSON lines)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    trace->add_option("--cgroup-hierarchy", f.hierarchy,
                      "Hierarchy that names cgroups: auto, unified or a v1 controller")
        ->capture_default_str();
    trace->add_option("--btf", f.btf_path, "BTF file describing the running kernel");
    return trace;
}

int trace_command(const TraceFlags& f) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGPIPE);  // a closed pipe ends the trace like Ctrl-C
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::set<std::string> wanted(f.events.begin(), f.events.end());
    const bool json = f.format == "json";
    try {
        probes::require_kernel_version();
        probes::require_bpf_privileges();
        probes::require_btf(f.btf_path);
        auto layout = containers::read_cgroup_layout("/proc/self/mountinfo");
        auto keying = containers::choose_cgroup_keying(layout, f.hierarchy, "/proc/cgroups");
        containers::CgroupResolver resolver(keying.mount_point, keying.mount_root);
        resolver.rescan();
        const bool all = wanted.empty();
        std::unique_ptr<probes::ProcProbe> proc;
        if (all || wanted.size() > wanted.count("tcp")) {
            probes::ProcProbeOptions o;
            o.keying = keying;
            o.btf_path = f.btf_path;
            if (!all) {  // only the kinds printed cross the ring
                o.emitted_events = 0;
                for (auto k : {ProcEventKind::Exec, ProcEventKind::Fork, ProcEventKind::Exit, ProcEventKind::Oom})
                    if (wanted.count(kind_name(k))) o.emitted_events |= probes::proc_event_bit(k);
            }
            proc = std::make_unique<probes::ProcProbe>(o);
        }
        std::unique_ptr<probes::NetProbe> net;
        if (all || wanted.count("tcp")) {
            probes::NetProbeOptions o;
            o.keying = keying;
            o.cgroup2_root = layout.unified() ? layout.unified()->mount_point : "";
            o.btf_path = f.btf_path;
            o.emit_events = true;
            try {
                net = std::make_unique<probes::NetProbe>(o);
            } catch (const probes::ProbeError& e) {
                if (!all) throw;  // asked for by name: an error
                LOG_WARN("no tcp events: %s", e.what());
            }
        }
        ContainerNames names(f.docker_socket);
        LOG_INFO("tracing %s events (cgroups named in the %s); Ctrl-C to stop",
                 all ? "exec, fork, exit, oom and tcp" : "the chosen", keying.describe().c_str());

        std::string line;
        auto emit = [&](const char* name, uint64_t cgroup_id, uint64_t timestamp_ns, const auto& event) {
            auto path = resolver.lookup(cgroup_id);
            if (!path) {
                resolver.rescan();  // a cgroup created since the last scan
                path = resolver.lookup(cgroup_id);
            }
            std::string cgroup = path ? *path : "<unresolved:" + std::to_string(cgroup_id) + ">";
            if (!f.cgroup.empty() && !(path && under(*path, f.cgroup))) return;
            auto container = path ? names.of(*path) : std::nullopt;
            if (!f.container.empty() && !(container && is_container(*container, f.container))) return;
            const std::string container_name = container ? container->name : "";
            line.clear();
            if (json) {
                line = "{\"time\":" + json_string(wall_time(timestamp_ns)) + ",\"event\":\"" + name + "\"";
                for (const auto& [k, v, is_string] : fields(event, cgroup, container_name))
                    line += ",\"" + k + "\":" + (is_string ? json_string(v) : v);
                line += "}\n";
            } else {
                char head[64];
                std::snprintf(head, sizeof head, "%-5s", name);
                line = wall_time(timestamp_ns) + " " + head;
                for (const auto& [k, v, is_string] : fields(event, cgroup, container_name)) line += " " + k + "=" + v;
                line += "\n";
            }
            std::fwrite(line.data(), 1, line.size(), stdout);
        };
        auto print = [&](const ProcEvent& e) {
            auto name = kind_name(e.kind);
            if (!all && !wanted.count(name)) return;
            emit(name, e.cgroup_id, e.timestamp_ns, e);
        };
        auto print_tcp = [&](const probes::NetConnection& c) { emit("tcp", c.cgroup_id, c.timestamp_ns, c); };
        auto drain = [&] {
            if (proc) proc->drain(print);
            if (net) net->drain(print_tcp);
            std::fflush(stdout);
        };
        timespec zero{0, 0};
        uint64_t last_drops = 0;
        while (sigtimedwait(&signals, nullptr, &zero) < 0) {
            // events are batched in the kernel: drain on a short timer
            if (proc)
                proc->wait(100);
            else if (net)
                net->wait(100);
            else
                break;
            drain();
            uint64_t d = (proc ? proc->ring_drops() : 0) + (net ? net->drops()[NET_DROP_RINGBUF_FULL] : 0);
            if (d != last_drops) {
                LOG_WARN("%llu events lost: the ring buffer was full", static_cast<unsigned long long>(d - last_drops));
                last_drops = d;
            }
        }
        drain();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer: error: %s\n", e.what());
        return 1;
    }
}

}  // namespace tracer::cli
