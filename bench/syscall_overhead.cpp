// bench_syscall_overhead: what one traced syscall costs under tracer, compared
// with nothing attached, with empty BPF programs on the same hooks (the floor
// every BPF syscall tracer pays: both hooks, and sys_exit alone) and with
// libbpf-tools' syscount / syscount -L, all measured in one run on one pinned
// CPU.
//
// Needs root (BPF, tracefs). See bench/README.md and docs/performance.md.
#include "bench_cli.h"
#include "bench_support.h"
#include "empty_hooks.skel.h"

#include <bpf/libbpf.h>

#include <sched.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifndef TRACER_BENCH_DEFAULT_TRACER
#define TRACER_BENCH_DEFAULT_TRACER "tracer"
#endif

namespace {

using namespace bench;

// ---------------------------------------------------------------- RAII: floor skeleton

using EmptyHooks = SkeletonPtr<empty_hooks_bpf>;

EmptyHooks attach_empty_hooks() {
    EmptyHooks skel(empty_hooks_bpf::open_and_load());
    if (!skel) throw RowError("empty_hooks: open_and_load failed: " + errno_text(errno) + " (root? BTF?)");
    if (int err = empty_hooks_bpf::attach(skel.get()))
        throw RowError("empty_hooks: attach failed: " + errno_text(-err));
    return skel;
}

// ---------------------------------------------------------------- measuring

struct Options {
    std::string tracer = TRACER_BENCH_DEFAULT_TRACER;
    std::string syscount = "/usr/sbin/syscount";
    long calls = 2'000'000;
    int samples = 7;
    int cpu = -1;  // -1: the last CPU we may run on
    int attach_timeout_s = 20;
    bool variants = false;    // also tracer with cgroup_hierarchy: unified
    bool prog_stats = true;   // per-program run time via bpf_stats, in a separate pass
    bool verbose = false;     // print every sample
};

// One sample: ns per call, as on-CPU time of this thread (CLOCK_THREAD_CPUTIME_ID:
// time other tasks spend on the CPU does not count; Sample::value) and as
// wall-clock time (Sample::other).
Sample time_calls(long calls) {
    timespec w0{}, c0{}, w1{}, c1{};
    ::clock_gettime(CLOCK_MONOTONIC, &w0);
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (long i = 0; i < calls; ++i) ::syscall(SYS_getppid);
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    ::clock_gettime(CLOCK_MONOTONIC, &w1);
    return {ns_between(c0, c1) / double(calls), ns_between(w0, w1) / double(calls)};
}

long warmup_calls(const Options& o) { return std::max(o.calls / 4, 10'000L); }

// The getppid() loop; the bpf_stats pass runs as many calls as the warm-up.
Workload getppid_loop(const Options& o) {
    Workload w;
    w.time = time_calls;
    w.sample_units = o.calls;
    w.warmup_units = warmup_calls(o);
    w.stats_units = warmup_calls(o);
    return w;
}

// ---------------------------------------------------------------- rows

class Bench {
public:
    Bench(const Options& o, std::optional<cpu_set_t> child_affinity)
        : opt_(o), agents_("bench_syscall_overhead", o.tracer, o.attach_timeout_s, child_affinity) {}

    // Before the rows, so a mount does not happen in the middle of one.
    void prepare_tracefs() {
        if (::access(opt_.syscount.c_str(), X_OK) == 0) tracefs_problem_ = tracefs_.ensure("syscount");
    }

    Setup untraced() { return {nullptr, "", "", false}; }

    Setup empty_hooks() { return {std::make_shared<EmptyHooks>(attach_empty_hooks()), "", "", true}; }

    Setup empty_sys_exit() { return {attach_empty_sys_exit(), "", "", true}; }

    // `hierarchy` non-empty: cgroup_hierarchy in the YAML (default: tracer's "auto").
    // `time_all`: histogram_syscalls: ["*"], so getppid() itself is timed, as
    // syscount -L times every syscall; otherwise tracer's default allowlist,
    // which does not time getppid().
    Setup tracer(bool latency, const std::string& hierarchy = "", bool time_all = true) {
        TracerRun r;
        r.tag = std::string(latency ? "tracer_lat" : "tracer_nolat") + (hierarchy.empty() ? "" : "_" + hierarchy) +
                (time_all ? "" : "_default");
        r.yaml = "interval: 1\n" + (hierarchy.empty() ? "" : "cgroup_hierarchy: " + hierarchy + "\n") +
                 "syscalls:\n"
                 "  latency: " + std::string(latency ? "true" : "false") + "\n" +
                 (time_all ? "  histogram_syscalls: [\"*\"]\n" : "");
        r.args = {"--interval", "1"};
        return agents_.tracer(r);
    }

    Setup syscount(bool latency) {
        if (::access(opt_.syscount.c_str(), X_OK) == 0 && !tracefs_problem_.empty())
            throw RowError(tracefs_problem_);
        ToolRun r;
        r.tag = latency ? "syscount_L" : "syscount";
        r.what = "syscount";
        r.argv = {opt_.syscount};
        if (latency) r.argv.push_back("-L");
        r.ready_text = "Tracing syscalls";
        r.install_hint = "; apt-get install libbpf-tools, or pass --syscount PATH";
        return agents_.tool(r);
    }

private:
    Options opt_;
    Agents agents_;
    TracefsMount tracefs_;
    std::string tracefs_problem_;
};

// ---------------------------------------------------------------- report

void print_table(const std::vector<Row>& rows) {
    TableLabels labels;
    labels.footnote = "(ns/call: median on-CPU time; spread: (max - min) / median of the samples; wall: median\n"
                      " wall-clock ns/call, higher than ns/call when other tasks took the CPU)";
    print_table(rows, 0, labels);
}

void print_prog_runs(const std::vector<Row>& rows) {
    bool any = false;
    for (const auto& r : rows) any = any || (!r.results.empty() && !r.results[0].prog_runs.empty());
    if (!any) return;
    // bpf_stats reads the clock twice around every run: an empty program's
    // ns/run is that overhead, subtracted to estimate each program's own work.
    std::optional<double> empty;
    if (const Row* f = find(rows, "empty hooks (floor)"); f && !f->results.at(0).prog_runs.empty()) {
        double sum = 0;
        for (const auto& p : f->results[0].prog_runs) sum += p.ns_per_run;
        empty = sum / double(f->results[0].prog_runs.size());
    }
    std::printf("\nBPF programs' run time (kernel.bpf_stats, in a separate pass after the timed samples).\n"
                "ns/run includes bpf_stats' own clock reads; 'work' = ns/run - an empty program's ns/run%s.\n"
                "Neither includes the hook's own cost (tracepoint dispatch, BPF entry/exit).\n",
                empty ? "" : " (no floor row: not computed)");
    std::printf("%-26s %-18s %9s %8s %10s\n", "configuration", "program", "ns/run", "work", "runs");
    for (const auto& r : rows) {
        if (r.results.empty()) continue;
        double sum = 0;
        int n = 0;
        for (const auto& p : r.results[0].prog_runs) {
            if (p.runs == 0) {
                std::printf("%-26s %-18s %9s %8s %10s   (did not run)\n", r.name.c_str(), p.name.c_str(), "-",
                            "-", "0");
                continue;
            }
            char work[32] = "-";
            if (empty) std::snprintf(work, sizeof work, "%.1f", p.ns_per_run - *empty);
            std::printf("%-26s %-18s %9.1f %8s %10llu\n", r.name.c_str(), p.name.c_str(), p.ns_per_run, work,
                        static_cast<unsigned long long>(p.runs));
            // programs that ran about once per call of the pass (not e.g. sched_process_exit)
            if (double(p.runs) >= 0.5 * double(r.results[0].stats_units)) {
                sum += p.ns_per_run;
                ++n;
            }
        }
        if (n > 1) {
            char work[32] = "-";
            if (empty) std::snprintf(work, sizeof work, "%.1f", sum - n * *empty);
            std::printf("%-26s %-18s %9.1f %8s\n", "", "(per syscall)", sum, work);
        }
    }
}

Verdicts print_ratios(const std::vector<Row>& rows) {
    Verdicts v;
    const Row* base = find(rows, "untraced");
    if (!base) {
        std::printf("\nno untraced baseline: no ratios\n");
        v.any_unknown = true;
        return v;
    }
    auto added = [&](const char* name) -> std::optional<double> {
        const Row* r = find(rows, name);
        if (!r) return std::nullopt;
        return r->results.at(0).m.median - base->results.at(0).m.median;
    };
    auto floor = added("empty hooks (floor)");
    auto exit_floor = added("empty sys_exit (floor)");
    auto tracer_default = added("tracer (default config)");
    auto lat_on = added("tracer (latency on)");
    auto lat_off = added("tracer (latency off)");
    auto sc = added("syscount");
    auto sc_l = added("syscount -L");

    std::printf("\nadded cost = configuration - untraced (medians, same run)\n");
    if (floor)
        std::printf("  floor added (empty hooks on sys_enter+sys_exit):  %+.1f ns\n", *floor);
    else
        std::printf("  floor added: not measured\n");
    if (floor && lat_on) std::printf("  tracer (latency on)  above the floor:  %+.1f ns\n", *lat_on - *floor);
    if (floor && lat_off) std::printf("  tracer (latency off) above the floor:  %+.1f ns\n", *lat_off - *floor);
    if (floor && sc_l) std::printf("  syscount -L          above the floor:  %+.1f ns\n", *sc_l - *floor);
    if (floor && sc) std::printf("  syscount             above the floor:  %+.1f ns\n", *sc - *floor);
    // (tracer's sys_enter is mostly detached: its default config pays about
    // one hook, so this is the floor under it)
    if (exit_floor) std::printf("  floor added (one empty program on sys_exit alone):  %+.1f ns\n", *exit_floor);
    if (exit_floor && tracer_default)
        std::printf("  tracer (default config) above that floor:  %+.1f ns\n", *tracer_default - *exit_floor);

    std::printf("\ntargets\n");
    print_target(v, "tracer (latency on) added / syscount -L added", lat_on, sc_l, 0.5);
    print_target(v, "tracer (latency off) added / syscount added", lat_off, sc, 1.0);
    return v;
}

// ---------------------------------------------------------------- main

int run(const Options& opt) {
    begin_bpf_bench("bench_syscall_overhead");

    // ---- CPUs: the measuring thread on one, the agents on the others
    const Pinning pin = pin_measuring_thread(opt.cpu);
    const int cpu = pin.cpu;
    const std::optional<cpu_set_t> child_affinity = pin.others;

    utsname u{};
    ::uname(&u);
    std::printf("bench_syscall_overhead: cost of one traced syscall\n");
    std::printf("machine: %ld CPUs online (%s), kernel %s %s\n", ::sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str(),
                u.release, u.machine);
    std::printf("method:  syscall(SYS_getppid) in a tight loop, measuring thread pinned to CPU %d "
                "(sched_setaffinity);\n"
                "         tracer/syscount run on %s; per configuration: %ld warm-up calls, then %d samples\n"
                "         of %ld calls; each sample timed with CLOCK_THREAD_CPUTIME_ID (on-CPU time of the\n"
                "         measuring thread) and CLOCK_MONOTONIC; reported: the median on-CPU ns/call. Samples\n"
                "         during which other tracing BPF programs came or went are discarded and retaken.\n"
                "         Added cost = configuration - untraced, both from this run.\n",
                cpu, child_affinity ? "the other CPUs" : "the same CPU (only one available)", warmup_calls(opt),
                opt.samples, opt.calls);
    std::printf("tracer:  %s\nsyscount: %s\n\n", opt.tracer.c_str(), opt.syscount.c_str());

    std::vector<Row> rows;
    bool fatal = false;
    try {
        auto pre = programs_before_run();
        if (!pre.empty())
            std::printf("WARNING: %zu tracing BPF programs were already loaded before the run (%s).\n"
                        "         If any of them hooks syscalls, every row (\"untraced\" too) includes its cost.\n\n",
                        pre.size(), names_of(pre).c_str());
        Bench bench(opt, child_affinity);
        RunnerOptions ro;
        ro.samples = opt.samples;
        ro.verbose = opt.verbose;
        ro.prog_stats = opt.prog_stats;
        Runner runner(ro, pre);
        const std::vector<Workload> loop{getppid_loop(opt)};
        auto row = [&](const std::string& name, const std::function<Setup()>& setup) {
            rows.push_back(runner.run(name, setup, loop));
        };
        bench.prepare_tracefs();
        row("untraced", [&] { return bench.untraced(); });
        row("empty hooks (floor)", [&] { return bench.empty_hooks(); });
        row("empty sys_exit (floor)", [&] { return bench.empty_sys_exit(); });
        row("tracer (latency on)", [&] { return bench.tracer(true); });
        row("tracer (latency off)", [&] { return bench.tracer(false); });
        row("tracer (default config)", [&] { return bench.tracer(true, "", false); });
        if (opt.variants) {
            row("tracer (lat on, v2 key)", [&] { return bench.tracer(true, "unified"); });
            row("tracer (lat off, v2 key)", [&] { return bench.tracer(false, "unified"); });
        }
        row("syscount", [&] { return bench.syscount(false); });
        row("syscount -L", [&] { return bench.syscount(true); });
        row("untraced (again, drift)", [&] { return bench.untraced(); });
    } catch (const Interrupted&) {
        std::fprintf(stderr, "\nbench_syscall_overhead: interrupted; everything stopped and detached\n");
        return 130;
    } catch (const FatalError& e) {
        std::fprintf(stderr, "\nbench_syscall_overhead: %s\n", e.what());
        fatal = true;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nbench_syscall_overhead: error: %s\n", e.what());
        fatal = true;
    }

    print_table(rows);
    print_drift(rows, 0, "");
    print_prog_runs(rows);
    Verdicts v = print_ratios(rows);
    return outcome(rows, fatal, v);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app("Cost of one getppid() syscall: untraced, empty BPF hooks (floor), tracer run (latency on/off),\n"
                 "syscount, syscount -L; all in one run. Needs root. Exit status: 0 when every available\n"
                 "configuration was measured (missing binaries are skipped, loudly), 1 when something could\n"
                 "not be measured.",
                 "bench_syscall_overhead");
    add_tracer_option(app, o.tracer);
    app.add_option("--syscount", o.syscount, "libbpf-tools syscount")->capture_default_str();
    app.add_option("--calls", o.calls, "calls per sample")->capture_default_str()->check(CLI::Range(1000L, 1000000000L));
    app.add_option("--samples", o.samples, "samples per configuration; the median is reported")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--cpu", o.cpu, "CPU the measuring thread is pinned to (-1: the last allowed CPU)")
        ->capture_default_str();
    add_attach_timeout_option(app, o.attach_timeout_s);
    app.add_flag("--variants", o.variants,
                 "also tracer with `cgroup_hierarchy: unified` (differs from the default on v1/hybrid hosts)");
    app.add_flag("!--no-prog-stats", o.prog_stats, "skip the separate per-program run-time pass (bpf_stats)");
    app.add_flag("-v,--verbose", o.verbose, "print every sample");
    return bench_main(app, argc, argv, [&] { return run(o); });
}
