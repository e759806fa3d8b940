// bench_agent_idle: what a running agent costs the host when nothing asks
// anything of it: its own CPU time (every thread, user + system) and how
// often its threads wake, with the built-in default config, over interleaved
// rounds, next to another build (--baseline-tracer) in the same rounds.
//
// A node agent runs on every host all the time, busy or not; each wake-up
// is a context switch, and on a VM that flushes the TLB at every kernel entry
// it also evicts whatever the host's applications had cached. The BPF
// programs are not counted there: they run in other tasks' context (see
// bench_app_overhead for what they cost an application). The whole host's
// CPU time and the interrupts its CPUs sent each other (function calls and
// TLB shootdowns: what rewriting kernel code, as attaching a tracepoint
// program does, costs every CPU) are printed next to it; they include
// whatever else the host did meanwhile. Needs root.
#include "bench_cli.h"
#include "bench_support.h"

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace bench;

struct Options {
    std::string tracer = TRACER_BENCH_DEFAULT_TRACER;
    std::string baseline_tracer;
    std::string yaml;  // appended to every agent's config
    int rounds = 5;
    int seconds = 20;
    int attach_timeout_s = 60;
};

// What the kernel has counted for every thread of `pid` so far.
struct Usage {
    double cpu_ns = 0;         // on-CPU time (schedstat: ns, not clock ticks)
    double voluntary = 0;      // switches away to sleep: each is a later wake-up
    double involuntary = 0;    // preempted
    int threads = 0;
};

Usage usage_of(pid_t pid) {
    Usage u;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw RowError("cannot list " + dir + ": " + errno_text(errno));
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        const std::string task = dir + "/" + e->d_name;
        std::istringstream sched(read_file(task + "/schedstat"));
        double run_ns = 0;
        if (!(sched >> run_ns)) continue;  // the thread exited meanwhile
        u.cpu_ns += run_ns;
        std::istringstream status(read_file(task + "/status"));
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0) u.voluntary += std::stod(line.substr(24));
            if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) u.involuntary += std::stod(line.substr(27));
        }
        ++u.threads;
    }
    ::closedir(d);
    return u;
}

// The whole host, from /proc/stat and /proc/interrupts.
struct HostUsage {
    double busy_ms = 0;  // every CPU's time not idle (nor waiting for I/O)
    double ipis = 0;     // CAL + TLB interrupts, all CPUs
};

HostUsage host_usage() {
    HostUsage h;
    std::istringstream stat(read_file("/proc/stat"));
    std::string cpu;
    double user, nice, system, idle, iowait, irq, softirq, steal;
    if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu")
        throw FatalError("cannot read the cpu line of /proc/stat");
    h.busy_ms = (user + nice + system + irq + softirq + steal) * 1000.0 / double(::sysconf(_SC_CLK_TCK));
    std::istringstream irqs(read_file("/proc/interrupts"));
    for (std::string line; std::getline(irqs, line);) {
        std::istringstream l(line);
        std::string name;
        l >> name;
        if (name != "CAL:" && name != "TLB:") continue;
        for (double n; l >> n;) h.ipis += n;  // per-CPU columns; the text after them stops the loop
    }
    return h;
}

struct Sample {
    double cpu_ms_per_s, wakeups_per_s, preempted_per_s;
    int threads;
    double host_ms_per_s, ipis_per_s;
};

Sample measure_idle(Agents& agents, const Options& o, const std::string& tag) {
    TracerRun r;
    r.tag = tag;
    r.yaml = o.yaml;
    Setup s = agents.tracer(r);
    if (!s.skip.empty()) throw FatalError(s.skip);
    const Usage before = usage_of(s.pid);
    const HostUsage host_before = host_usage();
    const auto start = std::chrono::steady_clock::now();
    nap(std::chrono::seconds(o.seconds));
    const Usage after = usage_of(s.pid);
    const HostUsage host_after = host_usage();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (after.threads != before.threads)
        throw RowError(tag + ": the agent's threads went from " + std::to_string(before.threads) + " to " +
                       std::to_string(after.threads) + " while measured");
    return {(after.cpu_ns - before.cpu_ns) / 1e6 / secs, (after.voluntary - before.voluntary) / secs,
            (after.involuntary - before.involuntary) / secs, after.threads,
            (host_after.busy_ms - host_before.busy_ms) / secs, (host_after.ipis - host_before.ipis) / secs};
}

std::string spread(std::vector<double> v, const char* fmt) {
    char buf[96];
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    std::string f = std::string(fmt) + " [" + fmt + "-" + fmt + "]";
    std::snprintf(buf, sizeof buf, f.c_str(), median_of(v), *lo, *hi);
    return buf;
}

int run(const Options& o) {
    if (::geteuid() != 0) std::fprintf(stderr, "bench_agent_idle: not root; tracer cannot load its probes\n");
    std::printf("machine: %ld CPUs online (%s), clocksource %s\n", ::sysconf(_SC_NPROCESSORS_ONLN),
                cpu_model().c_str(), clocksource().c_str());
    std::printf("each agent: `tracer run` with the built-in defaults%s, attached, then left alone for %d s; "
                "%d interleaved rounds\n\n",
                o.yaml.empty() ? "" : " plus --yaml", o.seconds, o.rounds);
    struct Config {
        std::string name;
        std::string tag;  // names its temp files
        Agents* agents;
        std::vector<Sample> samples;
    };
    Agents current("bench_agent_idle", o.tracer, o.attach_timeout_s, std::nullopt);
    std::optional<Agents> baseline;
    std::vector<Config> configs{{"tracer", "tracer", &current, {}}};
    if (!o.baseline_tracer.empty()) {
        baseline.emplace("bench_agent_idle", o.baseline_tracer, o.attach_timeout_s, std::nullopt);
        configs.push_back({"baseline tracer", "baseline", &*baseline, {}});
    }
    for (int round = 0; round < o.rounds; ++round) {
        for (size_t k = 0; k < configs.size(); ++k) {
            Config& c = configs[(k + size_t(round)) % configs.size()];  // rotated order
            Sample s = measure_idle(*c.agents, o, c.tag);
            std::printf("  round %d  %-16s CPU %6.3f ms/s  wake-ups %6.1f/s  preempted %5.1f/s  (%d threads)  "
                        "host: CPU %6.1f ms/s, IPIs %6.1f/s\n",
                        round + 1, c.name.c_str(), s.cpu_ms_per_s, s.wakeups_per_s, s.preempted_per_s, s.threads,
                        s.host_ms_per_s, s.ipis_per_s);
            c.samples.push_back(s);
        }
    }
    std::printf("\nmedian [min-max] of %d rounds\n", o.rounds);
    std::printf("  %-16s %-28s %-22s %-8s %-26s %s\n", "agent", "CPU ms/s (1 = 0.1% of a CPU)", "wake-ups per s",
                "threads", "host CPU ms/s (all CPUs)", "host IPIs per s");
    for (const auto& c : configs) {
        std::vector<double> cpu, wake, host, ipis;
        for (const auto& s : c.samples) {
            cpu.push_back(s.cpu_ms_per_s), wake.push_back(s.wakeups_per_s);
            host.push_back(s.host_ms_per_s), ipis.push_back(s.ipis_per_s);
        }
        std::printf("  %-16s %-28s %-22s %-8d %-26s %s\n", c.name.c_str(), spread(cpu, "%.3f").c_str(),
                    spread(wake, "%.1f").c_str(), c.samples.back().threads, spread(host, "%.1f").c_str(),
                    spread(ipis, "%.1f").c_str());
    }
    if (configs.size() == 2) {
        // per round, so that both agents' figures come from the same minutes
        std::vector<double> cpu, wake;
        for (int i = 0; i < o.rounds; ++i) {
            const Sample &a = configs[0].samples[size_t(i)], &b = configs[1].samples[size_t(i)];
            cpu.push_back(b.cpu_ms_per_s > 0 ? a.cpu_ms_per_s / b.cpu_ms_per_s : 0);
            wake.push_back(b.wakeups_per_s > 0 ? a.wakeups_per_s / b.wakeups_per_s : 0);
        }
        std::printf("\ntracer / baseline tracer, per round: CPU %sx, wake-ups %sx\n", spread(cpu, "%.2f").c_str(),
                    spread(wake, "%.2f").c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app("bench_agent_idle: what a running agent costs the host when nothing asks anything of it (root)",
                 "bench_agent_idle");
    add_tracer_option(app, o.tracer);
    add_attach_timeout_option(app, o.attach_timeout_s);
    add_baseline_tracer_option(app, o.baseline_tracer);
    app.add_option("--yaml", o.yaml, "config lines appended to every agent's config (e.g. 'api_events: [exec]')");
    app.add_option("--rounds", o.rounds, "interleaved rounds")->capture_default_str()->check(CLI::Range(1, 100));
    app.add_option("--seconds", o.seconds, "how long each agent is left alone per round")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    return bench_main(app, argc, argv, [&] { return run(o); });
}
