// `tracer trace`: process events and closed TCP connections live, one line
// each (text or JSON lines).
// Loads its own programs; needs no running agent.
#include "cli/commands.h"
#include "agent/host_context.h"
#include "containers/cgroup_path_parser.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/net_probe.h"
#include "probes/proc_probe.h"

#include <CLI/CLI.hpp>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <variant>

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

bool is_container(const std::string& name, const std::string& id, const std::string& wanted) {
    return name == wanted || (wanted.size() >= 4 && id.rfind(wanted, 0) == 0);
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
                      "Only events of this container (its name, a Kubernetes one's <pod>/<container>, "
                      "or an id prefix of 4+ hex digits)");
    trace->add_option("--docker-socket", f.docker_socket, "Docker Engine API socket that names containers")
        ->capture_default_str();
    trace->add_option("--host-root", f.host_root,
                      "Where the host's / is mounted (/proc, /sys, /run, the Docker socket), e.g. /host [default: /]");
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
        if (!f.host_root.empty() && f.host_root.front() != '/')
            throw config::ConfigError("--host-root must be an absolute path, got '" + f.host_root + "'");
        // The same host context as `tracer run`: layout and keying under the
        // host root, container names from the providers' cache.
        config::AgentConfig cfg;
        cfg.host_root = f.host_root;
        cfg.docker_socket = f.docker_socket;
        cfg.cgroup_hierarchy = f.hierarchy;
        agent::HostContext host(cfg);
        const auto& keying = host.keying();
        auto& resolver = host.resolver();
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
            o.cgroup2_root = host.cgroup2_root();
            o.btf_path = f.btf_path;
            o.emit_events = true;
            try {
                net = std::make_unique<probes::NetProbe>(o);
            } catch (const probes::ProbeError& e) {
                if (!all) throw;  // asked for by name: an error
                LOG_WARN("no tcp events: %s", e.what());
            }
        }
        LOG_INFO("tracing %s events (cgroups named in the %s); Ctrl-C to stop",
                 all ? "exec, fork, exit, oom and tcp" : "the chosen", keying.describe().c_str());

        // An event of a container whose metadata has not arrived yet waits
        // (up to kNameWait, on later drains) for its name rather than
        // blocking the trace on a lookup or going out unnamed.
        using Event = std::variant<ProcEvent, probes::NetConnection>;
        struct Held {
            std::chrono::steady_clock::time_point until;
            std::string name;
            uint64_t cgroup_id, timestamp_ns;
            Event event;
        };
        constexpr auto kNameWait = std::chrono::seconds(3);
        std::deque<Held> held;
        std::string line;
        // true: printed or filtered out; false: the container's name is not known yet
        auto emit = [&](const std::string& name, uint64_t cgroup_id, uint64_t timestamp_ns, const Event& event,
                        bool last_chance) {
            auto path = resolver.lookup(cgroup_id);
            if (!path) {
                resolver.rescan();  // a cgroup created since the last scan
                path = resolver.lookup(cgroup_id);
            }
            std::string cgroup = path ? *path : "<unresolved:" + std::to_string(cgroup_id) + ">";
            if (!f.cgroup.empty() && !(path && under(*path, f.cgroup))) return true;
            auto container = path ? host.container_name(*path) : std::optional<std::string>("");
            if (!container && !last_chance) return false;
            const std::string container_name = container.value_or("");
            if (!f.container.empty()) {
                auto ref = path ? containers::container_from_cgroup_path(*path) : std::nullopt;
                if (!ref || !is_container(container_name, ref->id, f.container)) return true;
            }
            auto fields_of = [&](const auto& e) { return fields(e, cgroup, container_name); };
            auto fs = std::visit(fields_of, event);
            line.clear();
            if (json) {
                line = "{\"time\":" + json_string(wall_time(timestamp_ns)) + ",\"event\":\"" + name + "\"";
                for (const auto& [k, v, is_string] : fs) line += ",\"" + k + "\":" + (is_string ? json_string(v) : v);
                line += "}\n";
            } else {
                char head[64];
                std::snprintf(head, sizeof head, "%-5s", name.c_str());
                line = wall_time(timestamp_ns) + " " + head;
                for (const auto& [k, v, is_string] : fs) line += " " + k + "=" + v;
                line += "\n";
            }
            std::fwrite(line.data(), 1, line.size(), stdout);
            return true;
        };
        // Events keep their order: once one is held, later ones queue behind it.
        auto offer = [&](const char* name, uint64_t cgroup_id, uint64_t timestamp_ns, Event event) {
            if (held.empty() && emit(name, cgroup_id, timestamp_ns, event, false)) return;
            held.push_back({std::chrono::steady_clock::now() + kNameWait, name, cgroup_id, timestamp_ns, std::move(event)});
        };
        auto release_held = [&](bool all_of_them) {
            while (!held.empty()) {
                auto& h = held.front();
                bool last = all_of_them || std::chrono::steady_clock::now() >= h.until;
                if (!emit(h.name, h.cgroup_id, h.timestamp_ns, h.event, last)) break;
                held.pop_front();
            }
        };
        auto print = [&](const ProcEvent& e) {
            auto name = kind_name(e.kind);
            if (!all && !wanted.count(name)) return;
            offer(name, e.cgroup_id, e.timestamp_ns, e);
        };
        auto print_tcp = [&](const probes::NetConnection& c) { offer("tcp", c.cgroup_id, c.timestamp_ns, c); };
        auto drain = [&](bool final) {
            release_held(false);
            if (proc) proc->drain(print);
            if (net) net->drain(print_tcp);
            release_held(final);
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
            drain(false);
            uint64_t d = (proc ? proc->ring_drops() : 0) + (net ? net->drops()[NET_DROP_RINGBUF_FULL] : 0);
            if (d != last_drops) {
                LOG_WARN("%llu events lost: the ring buffer was full", static_cast<unsigned long long>(d - last_drops));
                last_drops = d;
            }
        }
        drain(true);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer: error: %s\n", e.what());
        return 1;
    }
}

}  // namespace tracer::cli
