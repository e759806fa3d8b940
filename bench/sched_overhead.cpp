// bench_sched_overhead: what tracer adds to a context switch and a wake-up,
// compared with nothing attached, with empty BPF programs on the scheduler
// hooks (the floor), with tracer's scheduling probe alone, and with
// libbpf-tools' runqlat: a pipe ping-pong between two processes, measured with
// the two ends on two CPUs (cross-CPU wake-ups) and on one CPU (same-CPU
// switches), all in one run.
//
// Needs root (BPF). See bench/README.md and docs/performance.md.
#include "bench_cli.h"
#include "bench_support.h"
#include "empty_sched_hooks.skel.h"

#include "containers/cgroup_layout.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/sched_probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef TRACER_BENCH_DEFAULT_TRACER
#define TRACER_BENCH_DEFAULT_TRACER "tracer"
#endif

namespace {

using namespace bench;

constexpr double kTarget = 1.0 / 3.0;  // tracer (default config) added / runqlat added

// ---------------------------------------------------------------- RAII: floor skeleton

using EmptySchedHooks = SkeletonPtr<empty_sched_hooks_bpf>;

EmptySchedHooks attach_empty_sched_hooks() {
    EmptySchedHooks skel(empty_sched_hooks_bpf::open_and_load());
    if (!skel) throw RowError("empty_sched_hooks: open_and_load failed: " + errno_text(errno) + " (root? BTF?)");
    if (int err = empty_sched_hooks_bpf::attach(skel.get()))
        throw RowError("empty_sched_hooks: attach failed: " + errno_text(-err));
    return skel;
}

// ---------------------------------------------------------------- the ping-pong

// The other end of the ping-pong: a forked process (no exec: the bench is
// single-threaded) pinned to one CPU, echoing every byte it reads. The bench's
// own thread is the ping end. The pong exits when its input pipe closes (the
// destructor), is SIGKILLed if it does not, and dies with us (PR_SET_PDEATHSIG).
class Pong {
public:
    explicit Pong(int cpu) : cpu_(cpu) {
        int a[2], b[2];
        if (::pipe2(a, O_CLOEXEC) != 0) throw FatalError("pipe2: " + errno_text(errno));
        Fd a_r(a[0]), a_w(a[1]);
        if (::pipe2(b, O_CLOEXEC) != 0) throw FatalError("pipe2: " + errno_text(errno));
        Fd b_r(b[0]), b_w(b[1]);
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        const pid_t parent = ::getpid();
        pid_t pid = ::fork();
        if (pid < 0) throw FatalError("fork: " + errno_text(errno));
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::setpgid(0, 0);  // Ctrl+C on the terminal goes to the bench, which closes our pipe
            ::signal(SIGINT, SIG_IGN);
            ::signal(SIGTERM, SIG_DFL);
            if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(126);
            // stdin/stdout are the pipes; nothing else stays open (another
            // pong's pipe end kept here would hide its EOF).
            if (::dup2(a_r.get(), 0) < 0 || ::dup2(b_w.get(), 1) < 0) ::_exit(125);
            ::syscall(SYS_close_range, 3U, ~0U, 0U);
            char c;
            for (;;) {
                ssize_t n = ::read(0, &c, 1);
                if (n == 1) {
                    if (::write(1, &c, 1) != 1) ::_exit(1);
                } else if (n < 0 && errno == EINTR) {
                    continue;
                } else {
                    ::_exit(0);  // EOF: the bench closed its end
                }
            }
        }
        pid_ = pid;
        to_ = std::move(a_w);
        from_ = std::move(b_r);
        if (::clock_getcpuclockid(pid_, &clock_) != 0) throw FatalError("clock_getcpuclockid: " + errno_text(errno));
    }
    Pong(const Pong&) = delete;
    Pong& operator=(const Pong&) = delete;
    ~Pong() {
        to_.reset();
        from_.reset();
        const auto deadline = Clock::now() + 2s;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (Clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
                }
                return;
            }
            std::this_thread::sleep_for(5ms);
        }
    }

    int cpu() const { return cpu_; }
    pid_t pid() const { return pid_; }

    // n round trips from this thread: value = wall-clock ns per round trip,
    // other = on-CPU ns per round trip of both ends (this thread + the pong).
    Sample round_trips(long n) {
        timespec w0{}, w1{}, c0{}, c1{}, p0{}, p1{};
        ::clock_gettime(clock_, &p0);
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        ::clock_gettime(CLOCK_MONOTONIC, &w0);
        char c = 'p';
        for (long i = 0; i < n; ++i) {
            transfer(true, c);
            transfer(false, c);
        }
        ::clock_gettime(CLOCK_MONOTONIC, &w1);
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        ::clock_gettime(clock_, &p1);
        return {ns_between(w0, w1) / double(n), (ns_between(c0, c1) + ns_between(p0, p1)) / double(n)};
    }

private:
    void transfer(bool out, char& c) {
        for (;;) {
            ssize_t r = out ? ::write(to_.get(), &c, 1) : ::read(from_.get(), &c, 1);
            if (r == 1) return;
            if (r < 0 && errno == EINTR) {
                check_interrupted();
                continue;
            }
            throw FatalError(std::string("ping-pong: ") + (out ? "write" : "read") + " to the pong process (pid " +
                             std::to_string(pid_) + ") failed: " + (r < 0 ? errno_text(errno) : "it exited"));
        }
    }

    int cpu_;
    pid_t pid_ = -1;
    Fd to_, from_;
    clockid_t clock_{};
};

// ---------------------------------------------------------------- other tasks
// Wall-clock time counts whatever else runs on the CPUs: a sample is only
// clean if no other task wanted a CPU around it.

// Runnable tasks on the box now (4th field of /proc/loadavg, "running/total");
// the calling thread is one of them.
int running_tasks() {
    std::string s = read_file("/proc/loadavg");
    int a = 0, b = 0;
    double l1, l5, l15;
    if (std::sscanf(s.c_str(), "%lf %lf %lf %d/%d", &l1, &l5, &l15, &a, &b) != 5) return 1;
    return a;
}

// "comm[pid]" of the threads in state R, but the caller (for the report).
std::string runnable_threads() {
    const pid_t me = static_cast<pid_t>(::syscall(SYS_gettid));
    std::map<std::string, int> seen;
    std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
    if (!proc) return "?";
    while (dirent* p = ::readdir(proc.get())) {
        if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
        const std::string task_dir = std::string("/proc/") + p->d_name + "/task";
        std::unique_ptr<DIR, int (*)(DIR*)> tasks(::opendir(task_dir.c_str()), ::closedir);
        if (!tasks) continue;
        while (dirent* t = ::readdir(tasks.get())) {
            if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
            if (std::atoi(t->d_name) == me) continue;
            const std::string stat = read_file(task_dir + "/" + t->d_name + "/stat");
            const auto open = stat.find('('), close = stat.rfind(')');
            if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) continue;
            if (stat[close + 2] != 'R') continue;
            seen[stat.substr(open + 1, close - open - 1) + "[" + p->d_name + "]"]++;
        }
    }
    std::string out;
    for (const auto& [name, n] : seen) out += (out.empty() ? "" : ", ") + name;
    return out.empty() ? "(gone by the time we looked)" : out;
}

// "" when nothing but us is runnable in at least one of three looks 2 ms apart
// (a pong finishing its last write, or an agent's timer, is not a hog).
std::string other_tasks_running() {
    int least = INT_MAX;
    for (int i = 0; i < 3; ++i) {
        if (i) std::this_thread::sleep_for(2ms);
        least = std::min(least, running_tasks());
        if (least <= 1) return "";
    }
    return "other tasks want the CPUs: " + runnable_threads();
}

// ---------------------------------------------------------------- options, layouts

struct Options {
    std::string tracer = TRACER_BENCH_DEFAULT_TRACER;
    std::string runqlat = "/usr/sbin/runqlat";
    long round_trips = 0;  // per sample; 0: calibrated per layout to last about sample_ms
    int sample_ms = 300;
    int samples = 21;
    int cpu = -1;       // ping's CPU; -1: the last CPU we may run on
    int pong_cpu = -1;  // pong's CPU in the cross-CPU layout; -1: the first other one
    int attach_timeout_s = 20;
    int quiet_wait_s = 60;
    bool prog_stats = true;
    bool check_others = true;  // discard samples while other tasks are runnable
    bool verbose = false;
};

struct Layout {
    std::string label;           // "cross-CPU"
    std::string description;     // "ping on CPU 1, pong on CPU 0"
    std::unique_ptr<Pong> pong;
    long round_trips = 0;        // per sample
};

// Round trips per sample: --round-trips, or as many as take about
// --sample-ms untraced (measured once, before the rows; every row then uses it).
long calibrate(const Options& o, Pong& pong) {
    if (o.round_trips > 0) return o.round_trips;
    pong.round_trips(1000);  // warm up
    const double ns = pong.round_trips(2000).value;
    double n = double(o.sample_ms) * 1e6 / std::max(ns, 1.0);
    const double unit = std::pow(10.0, std::floor(std::log10(std::max(n, 1.0))) - 1);  // 2 significant digits
    n = std::round(n / unit) * unit;
    return std::clamp(static_cast<long>(n), 1000L, 100'000'000L);
}

Workload ping_pong(const Options& o, Layout& l) {
    Workload w;
    w.label = l.label;
    Pong* pong = l.pong.get();
    w.time = [pong](long n) { return pong->round_trips(n); };
    w.sample_units = l.round_trips;
    w.warmup_units = std::max(l.round_trips / 4, 1000L);
    w.stats_units = l.round_trips;
    if (o.check_others) w.unfit = other_tasks_running;
    return w;
}

// ---------------------------------------------------------------- rows

class Bench {
public:
    Bench(const Options& o, std::optional<cpu_set_t> child_affinity)
        : opt_(o), agents_("bench_sched_overhead", o.tracer, o.attach_timeout_s, child_affinity) {}

    Setup untraced() { return {nullptr, "", "", false}; }

    Setup empty_hooks() { return {std::make_shared<EmptySchedHooks>(attach_empty_sched_hooks()), "", "", true}; }

    // tracer's scheduling probe alone, loaded in this process exactly as
    // `tracer run` loads it (same object, same cgroup keying), without the
    // agent and without the syscalls and process probes.
    Setup sched_probe_only() {
        namespace tc = tracer::containers;
        namespace tp = tracer::probes;
        try {
            auto layout = tc::read_cgroup_layout("/proc/self/mountinfo");
            tp::SchedProbeOptions o;
            o.keying = tc::choose_cgroup_keying(layout, "auto", "/proc/cgroups");
            auto probe = std::make_shared<tp::SchedProbe>(o);
            quiet_libbpf();  // the probe installed tracer's libbpf logging
            return {probe, "", "keyed on the " + o.keying.describe() + "; " + probe->variant_description(), true};
        } catch (const tc::CgroupLayoutError& e) {
            throw RowError(std::string("  cgroup layout: ") + e.what());
        } catch (const tp::ProbeError& e) {
            throw RowError(std::string("  sched probe: ") + e.what());
        }
    }

    // `tracer run` on the built-in defaults (interval 10 s, every probe,
    // syscall latency on with the default histogram list, which has read and
    // write); only /metrics moves to a free loopback port. `syscall_latency`
    // false: with `syscalls: {latency: false}` (count-only, one hook).
    Setup tracer(bool syscall_latency) {
        TracerRun r;
        r.tag = syscall_latency ? "tracer_default" : "tracer_nolat";
        r.yaml = syscall_latency ? "" : "syscalls:\n  latency: false\n";
        // ready when /metrics answers: the agent serves it after loading every probe
        return agents_.tracer(r);
    }

    Setup runqlat() {
        ToolRun r;
        r.tag = "runqlat";
        r.what = "runqlat";
        r.argv = {opt_.runqlat};
        r.ready_text = "Tracing run queue latency";
        r.install_hint = "; apt-get install libbpf-tools, or pass --runqlat PATH";
        return agents_.tool(r);
    }

private:
    Options opt_;
    Agents agents_;
};

// ---------------------------------------------------------------- report

constexpr const char* kFloor = "empty hooks (floor)";
constexpr const char* kSchedOnly = "tracer sched probe only";
constexpr const char* kTracer = "tracer (default config)";
constexpr const char* kTracerNoLat = "tracer (syscalls lat off)";
constexpr const char* kRunqlat = "runqlat";

// An added cost and its noise: the two medians' ~95 % confidence half-widths
// and the baseline's drift over the run (slow changes of the machine, which
// the samples of one row do not show), combined.
struct Added {
    double value, noise;
};

std::optional<Added> added(const std::vector<Row>& rows, const std::string& name, size_t index) {
    const Row* base = find(rows, "untraced");
    const Row* r = find(rows, name);
    if (!base || !r || base->results.size() <= index || r->results.size() <= index) return std::nullopt;
    const Measurement &b = base->results[index].m, &m = r->results[index].m;
    double drift = 0;
    if (const Row* again = find(rows, "untraced (again, drift)"); again && again->results.size() > index)
        drift = again->results[index].m.median - b.median;
    return Added{m.median - b.median, std::sqrt(m.ci * m.ci + b.ci * b.ci + drift * drift)};
}

// num / den with the range the noise allows; nullopt when the noise decides
// (den not clearly above 0, or num clearly below 0: noise beyond the estimate).
struct Ratio {
    double value, lo, hi;
};
std::optional<Ratio> noisy_ratio(const Added& num, const Added& den) {
    if (den.value - den.noise <= 0 || num.value + num.noise < 0) return std::nullopt;
    return Ratio{num.value / den.value, std::max(0.0, num.value - num.noise) / (den.value + den.noise),
                 (num.value + num.noise) / (den.value - den.noise)};
}

void print_tables(const std::vector<Row>& rows, const std::vector<Layout>& layouts) {
    for (size_t i = 0; i < layouts.size(); ++i) {
        std::printf("\n%s: %s, %ld round trips per sample", layouts[i].label.c_str(),
                    layouts[i].description.c_str(), layouts[i].round_trips);
        TableLabels labels;
        labels.value = "ns/rt";
        labels.other = "cpu";
        if (i + 1 == layouts.size())
            labels.footnote =
                "(ns/rt: median wall-clock ns per round trip; spread: (max - min) / median of the samples;\n"
                " cpu: median on-CPU ns per round trip of both ends together, BPF programs included)";
        print_table(rows, i, labels);
        print_drift(rows, i, layouts[i].label);
    }
}

// kernel.bpf_stats of one row and layout, per round trip: the programs' run
// time, and their 'work' (run time minus an empty program's, from the floor
// row of the same layout; bpf_stats' own clock reads are in every run).
struct ProgTime {
    double ns_rt = 0;
    std::optional<double> work_rt;
};

std::optional<double> empty_program_ns(const std::vector<Row>& rows, size_t i) {
    const Row* f = find(rows, kFloor);
    if (!f || f->results.size() <= i) return std::nullopt;
    // weighted by runs: a hook that ran a handful of times says little
    double ns = 0, runs = 0;
    for (const auto& p : f->results[i].prog_runs) {
        ns += p.ns_per_run * double(p.runs);
        runs += double(p.runs);
    }
    if (runs <= 0) return std::nullopt;
    return ns / runs;
}

std::optional<ProgTime> prog_time(const std::vector<Row>& rows, const std::string& name, size_t i) {
    const Row* r = find(rows, name);
    if (!r || r->results.size() <= i || r->results[i].prog_runs.empty()) return std::nullopt;
    const Result& res = r->results[i];
    const auto empty = empty_program_ns(rows, i);
    ProgTime t;
    double work = 0;
    for (const auto& p : res.prog_runs) {
        const double runs_rt = double(p.runs) / double(res.stats_units);
        t.ns_rt += p.ns_per_run * runs_rt;
        if (empty) work += (p.ns_per_run - *empty) * runs_rt;
    }
    if (empty) t.work_rt = work;
    return t;
}

void print_prog_runs(const std::vector<Row>& rows, const std::vector<Layout>& layouts) {
    bool any = false;
    for (const auto& r : rows)
        for (const auto& res : r.results) any = any || !res.prog_runs.empty();
    if (!any) return;
    std::printf("\nBPF programs' run time (kernel.bpf_stats, in a separate pass of one sample's round trips after\n"
                "the timed samples). ns/run includes bpf_stats' own clock reads; 'work' = ns/run - an empty\n"
                "program's ns/run (floor row, same layout). runs/rt: runs per round trip (every task on the box\n"
                "counts, not only the ping-pong); ns/rt = ns/run x runs/rt. None of it includes the hooks' own\n"
                "cost (tracepoint dispatch, BPF trampoline).\n");
    std::printf("%-10s %-26s %-16s %8s %7s %8s %8s\n", "layout", "configuration", "program", "ns/run", "work",
                "runs/rt", "ns/rt");
    for (size_t i = 0; i < layouts.size(); ++i) {
        const auto empty = empty_program_ns(rows, i);
        for (const auto& r : rows) {
            if (r.results.size() <= i || r.results[i].prog_runs.empty()) continue;
            const Result& res = r.results[i];
            for (const auto& p : res.prog_runs) {
                if (p.runs == 0) continue;  // e.g. the process probe's: no exec/fork/exit in a ping-pong
                const double runs_rt = double(p.runs) / double(res.stats_units);
                char work[32] = "-";
                if (empty) std::snprintf(work, sizeof work, "%.1f", p.ns_per_run - *empty);
                std::printf("%-10s %-26s %-16s %8.1f %7s %8.2f %8.1f\n", layouts[i].label.c_str(), r.name.c_str(),
                            p.name.c_str(), p.ns_per_run, work, runs_rt, p.ns_per_run * runs_rt);
            }
            if (auto t = prog_time(rows, r.name, i)) {
                char work[32] = "-";
                if (t->work_rt) std::snprintf(work, sizeof work, "%.1f", *t->work_rt);
                std::printf("%-10s %-26s %-16s %8s %7s %8s %8.1f   (work: %s ns/rt)\n", "", "", "(per round trip)",
                            "", "", "", t->ns_rt, work);
            }
        }
    }
    std::printf("(programs that did not run during the pass are not listed)\n");
}

// PASS only if the whole range the noise allows is under the limit, MISS only
// if it is all over; otherwise NOT RESOLVED.
void print_noisy_target(Verdicts& v, const std::string& label, std::optional<Added> num, std::optional<Added> den,
                        double limit) {
    if (!num || !den) {
        std::printf("  %-58s  n/a   target <= %.2f   NOT MEASURED\n", label.c_str(), limit);
        v.any_unknown = true;
        return;
    }
    const auto r = noisy_ratio(*num, *den);
    if (!r) {
        std::printf("  %-58s  %+.1f +- %.1f / %+.1f +- %.1f: within the noise   target <= %.2f   NOT RESOLVED\n",
                    label.c_str(), num->value, num->noise, den->value, den->noise, limit);
        ++v.unresolved;
        return;
    }
    const char* verdict = r->hi <= limit ? "PASS" : r->lo > limit ? "MISS" : "NOT RESOLVED";
    if (r->lo > limit) v.all_met = false;
    if (r->hi > limit && r->lo <= limit) ++v.unresolved;
    std::printf("  %-58s  %7.1f / %7.1f = %.2f (%.2f .. %.2f)   target <= %.2f   %s\n", label.c_str(), num->value,
                den->value, r->value, r->lo, r->hi, limit, verdict);
}

Verdicts print_ratios(const std::vector<Row>& rows, const std::vector<Layout>& layouts) {
    Verdicts v;
    if (!find(rows, "untraced")) {
        std::printf("\nno untraced baseline: no ratios\n");
        v.any_unknown = true;
        return v;
    }
    std::printf("\nadded ns per round trip = configuration - untraced (medians, same run; +- the noise: the\n"
                "~95 %% confidence half-widths of the two medians and the baseline drift, combined)\n");
    std::printf("  %-58s", "");
    for (const auto& l : layouts) std::printf(" %20s", l.label.c_str());
    std::printf("\n");
    auto line = [&](const std::string& label, const std::function<std::optional<Added>(size_t)>& value) {
        std::printf("  %-58s", label.c_str());
        for (size_t i = 0; i < layouts.size(); ++i) {
            char cell[48] = "n/a";
            if (auto x = value(i)) std::snprintf(cell, sizeof cell, "%+.1f +- %.1f", x->value, x->noise);
            std::printf(" %20s", cell);
        }
        std::printf("\n");
    };
    for (const char* name : {kFloor, kSchedOnly, kTracer, kTracerNoLat, kRunqlat})
        line(name, [&](size_t i) { return added(rows, name, i); });
    auto diff = [&](const char* a, const char* b) {
        return [&rows, a, b](size_t i) -> std::optional<Added> {
            auto x = added(rows, a, i), y = added(rows, b, i);
            if (!x || !y) return std::nullopt;
            // conservative: the baseline's share of the two noises cancels in the difference
            return Added{x->value - y->value, std::hypot(x->noise, y->noise)};
        };
    };
    line("sched probe only - floor (its programs' work)", diff(kSchedOnly, kFloor));
    line("default config - sched probe only (syscalls probe, agent)", diff(kTracer, kSchedOnly));
    line("default config - syscalls lat off (timing read/write)", diff(kTracer, kTracerNoLat));

    std::printf("\ntargets (ratio, then the range the noise allows: PASS/MISS only if all of it is on one side)\n");
    for (size_t i = 0; i < layouts.size(); ++i)
        print_noisy_target(v, layouts[i].label + ": " + kTracer + " added / runqlat added", added(rows, kTracer, i),
                           added(rows, kRunqlat, i), kTarget);
    std::printf("for comparison (no target)\n");
    for (size_t i = 0; i < layouts.size(); ++i)
        for (const char* name : {kTracerNoLat, kSchedOnly, kFloor}) {
            auto num = added(rows, name, i), den = added(rows, kRunqlat, i);
            const std::string label = layouts[i].label + ": " + name + " added / runqlat added";
            const auto r = num && den ? noisy_ratio(*num, *den) : std::nullopt;
            if (r)
                std::printf("  %-58s  %7.1f / %7.1f = %.2f (%.2f .. %.2f)\n", label.c_str(), num->value, den->value,
                            r->value, r->lo, r->hi);
            else
                std::printf("  %-58s  n/a%s\n", label.c_str(), num && den ? " (within the noise)" : "");
        }
    std::printf("BPF programs' own run time per round trip (kernel.bpf_stats 'work': no hook dispatch, no noise\n"
                "from the wall clock; the CPU time they take from the workload)\n");
    for (size_t i = 0; i < layouts.size(); ++i)
        for (const char* name : {kTracer, kTracerNoLat, kSchedOnly}) {
            auto num = prog_time(rows, name, i), den = prog_time(rows, kRunqlat, i);
            const std::string label = layouts[i].label + ": " + name + " / runqlat";
            if (num && den && num->work_rt && den->work_rt && *den->work_rt > 0)
                std::printf("  %-58s  %7.1f / %7.1f = %.2f\n", label.c_str(), *num->work_rt, *den->work_rt,
                            *num->work_rt / *den->work_rt);
        }
    return v;
}

// ---------------------------------------------------------------- main

int run(const Options& opt) {
    begin_bpf_bench("bench_sched_overhead");
    tracer::log::set_level(tracer::log::Level::Warn);  // the in-process sched probe's start-up lines

    // ---- CPUs: ping (this thread) on one; pong there or on another; the agents off ping's CPU
    const Pinning pin = pin_measuring_thread(opt.cpu);
    const int cpu = pin.cpu;
    int pong_cpu = opt.pong_cpu;
    if (pong_cpu < 0 && pin.others)
        for (int c = 0; c < CPU_SETSIZE && pong_cpu < 0; ++c)
            if (CPU_ISSET(c, &*pin.others)) pong_cpu = c;
    if (opt.pong_cpu >= 0 && (!pin.others || !CPU_ISSET(pong_cpu, &*pin.others)))
        throw FatalError("--pong-cpu " + std::to_string(opt.pong_cpu) +
                         " must be another CPU available to this process");
    const std::optional<cpu_set_t> child_affinity = pin.others;

    utsname u{};
    ::uname(&u);
    std::printf("bench_sched_overhead: cost of a pipe ping-pong round trip between two processes\n");
    std::printf("machine: %ld CPUs online (%s), kernel %s %s\n", ::sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str(),
                u.release, u.machine);
    std::printf("tracer:  %s\nrunqlat: %s\n", opt.tracer.c_str(), opt.runqlat.c_str());

    std::vector<Row> rows;
    std::vector<Layout> layouts;
    bool fatal = false;
    try {
        if (pong_cpu >= 0)
            layouts.push_back({"cross-CPU", "ping on CPU " + std::to_string(cpu) + ", pong on CPU " +
                                                std::to_string(pong_cpu),
                               std::make_unique<Pong>(pong_cpu)});
        else
            std::printf("(only one CPU available: no cross-CPU layout)\n");
        layouts.push_back({"same CPU", "ping and pong on CPU " + std::to_string(cpu), std::make_unique<Pong>(cpu)});
        std::string per_sample;
        for (auto& l : layouts) {
            l.round_trips = calibrate(opt, *l.pong);
            per_sample += (per_sample.empty() ? "" : ", ") + std::to_string(l.round_trips) + " (" + l.label + ")";
        }
        const std::string about =
            opt.round_trips > 0 ? "" : " (about " + std::to_string(opt.sample_ms) + " ms untraced)";
        std::printf(
            "method:  the bench (ping) writes 1 byte into a pipe, a forked process (pong) reads it and\n"
            "         writes it back on a second pipe; one round trip = 4 syscalls (2 write, 2 read).\n"
            "         Layouts: cross-CPU (ping on CPU %d, pong on CPU %d: 2 wake-ups across CPUs, 4 switches\n"
            "         to and from idle) and same CPU (both on CPU %d: 2 switches, 1-2 wake-ups, as the woken\n"
            "         pong mostly preempts the ping). tracer/runqlat run on %s.\n"
            "         Per configuration and layout: a warm-up of a quarter sample, then %d samples of\n"
            "         %s round trips%s.\n"
            "         Each sample is timed with CLOCK_MONOTONIC: wall clock, because the cost is in\n"
            "         switches, wake-ups and idle exits, which the two ends' on-CPU clocks partly miss.\n"
            "         Reported: the median ns per round trip. Samples during which other tracing BPF\n"
            "         programs came or went%s are discarded and retaken.\n"
            "         Added cost = configuration - untraced, both from this run.\n\n",
            cpu, pong_cpu, cpu, child_affinity ? "the other CPUs" : "the same CPU (only one available)",
            opt.samples, per_sample.c_str(), about.c_str(),
            opt.check_others ? ", or other tasks were runnable," : "");

        auto pre = programs_before_run();
        if (!pre.empty())
            std::printf("WARNING: %zu tracing BPF programs were already loaded before the run (%s).\n"
                        "         If any of them hooks the scheduler or read/write, every row (\"untraced\" too)\n"
                        "         includes its cost.\n\n",
                        pre.size(), names_of(pre).c_str());
        Bench bench(opt, child_affinity);
        RunnerOptions ro;
        ro.samples = opt.samples;
        ro.verbose = opt.verbose;
        ro.prog_stats = opt.prog_stats;
        ro.quiet_wait = std::chrono::seconds(opt.quiet_wait_s);
        ro.unit = "ns/round trip";
        ro.sample_legend = "wall/cpu ns per round trip";
        Runner runner(ro, pre);
        std::vector<Workload> workloads;
        for (auto& l : layouts) workloads.push_back(ping_pong(opt, l));
        auto row = [&](const std::string& name, const std::function<Setup()>& setup) {
            rows.push_back(runner.run(name, setup, workloads));
        };
        row("untraced", [&] { return bench.untraced(); });
        row(kFloor, [&] { return bench.empty_hooks(); });
        row(kSchedOnly, [&] { return bench.sched_probe_only(); });
        row(kTracer, [&] { return bench.tracer(true); });
        row(kTracerNoLat, [&] { return bench.tracer(false); });
        row(kRunqlat, [&] { return bench.runqlat(); });
        row("untraced (again, drift)", [&] { return bench.untraced(); });
    } catch (const Interrupted&) {
        std::fprintf(stderr, "\nbench_sched_overhead: interrupted; everything stopped and detached\n");
        return 130;
    } catch (const FatalError& e) {
        std::fprintf(stderr, "\nbench_sched_overhead: %s\n", e.what());
        fatal = true;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nbench_sched_overhead: error: %s\n", e.what());
        fatal = true;
    }

    print_tables(rows, layouts);
    print_prog_runs(rows, layouts);
    Verdicts v = print_ratios(rows, layouts);
    return outcome(rows, fatal, v);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app("Cost of a pipe ping-pong round trip between two processes (context switches and wake-ups),\n"
                 "with the ends on two CPUs and on one CPU: untraced, empty BPF programs on the scheduler hooks\n"
                 "(floor), tracer's sched probe alone, tracer run (default config; and with syscall latency off),\n"
                 "runqlat; all in one run. Needs root. Exit status: 0 when every available configuration was\n"
                 "measured, 1 when something could not be.",
                 "bench_sched_overhead");
    add_tracer_option(app, o.tracer);
    app.add_option("--runqlat", o.runqlat, "libbpf-tools runqlat")->capture_default_str();
    app.add_option("--round-trips", o.round_trips, "round trips per sample (0: calibrated per layout, see --sample-ms)")
        ->capture_default_str()
        ->check(CLI::Range(0L, 100000000L));
    app.add_option("--sample-ms", o.sample_ms,
                   "without --round-trips: as many round trips per sample as take about MS untraced")
        ->capture_default_str()
        ->check(CLI::Range(10, 60000));
    app.add_option("--samples", o.samples, "samples per configuration and layout; the median is reported")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--cpu", o.cpu, "CPU of the ping end, the bench (-1: the last allowed CPU)")->capture_default_str();
    app.add_option("--pong-cpu", o.pong_cpu, "CPU of the pong end in the cross-CPU layout (-1: the first other one)")
        ->capture_default_str();
    add_attach_timeout_option(app, o.attach_timeout_s);
    app.add_option("--quiet-wait", o.quiet_wait_s, "give a row up after S seconds of disturbed samples")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    app.add_flag("!--no-prog-stats", o.prog_stats, "skip the separate per-program run-time pass (bpf_stats)");
    app.add_flag("!--ignore-other-tasks", o.check_others, "keep samples taken while other tasks were runnable");
    app.add_flag("-v,--verbose", o.verbose, "print every sample");
    return bench_main(app, argc, argv, [&] { return run(o); });
}
