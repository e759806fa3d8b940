// bench_hook_costs: what a BPF program on the syscall hooks pays per run on
// this machine for each kind of work it can do — nothing at all, fields of the
// current task, one word of map memory (read, written), a second page, a map
// in the kernel's direct map instead of vmalloc, a clock read, a task-storage
// lookup — and what one page shared by the entry and the exit program costs
// each of them; then the same for a program on sched_switch (prev's fields,
// a line per thread, a counter per CPU) under a pipe ping-pong. Each row is
// attached alone, rounds are interleaved, and every figure is given against
// the empty program of the same round.
//
// It answers "how low can this program go here": on VMs that flush the TLB at
// every kernel entry (PTI without PCID) under nested paging, the first page of
// data a syscall's programs touch costs a page walk that no program logic can
// avoid. Needs root. See docs/performance.md.
#include "bench_cli.h"
#include "bench_support.h"
#include "hook_costs.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace bench;

// A program of a row, and the program whose figure in the same round it is
// compared with ("row/program"; empty: none, it is a floor itself).
struct Prog {
    const char* name;
    const char* floor;
};

struct Row {
    const char* title;
    std::vector<Prog> programs;  // attached together
    const char* what;
    bool switches = false;  // the work: context switches (a pipe ping-pong), not getppid()
};

constexpr const char* kEmpty = "empty program/hc_empty";

const std::vector<Row> kRows = {
    {"untraced", {}, "nothing attached"},
    {"empty program", {{"hc_empty", ""}}, "the hook and bpf_stats' own clock reads"},
    {"current task's fields", {{"hc_task", kEmpty}}, "nvcsw, nivcsw, pid: memory the syscall already touched"},
    {"map word, read", {{"hc_read", kEmpty}}, "one 64-bit load from a vmalloc'd (mmapable) array entry"},
    {"map word, written", {{"hc_write", kEmpty}}, "one increment there"},
    {"two map pages, written", {{"hc_two_pages", kEmpty}}, "an increment in each of two arrays"},
    {"direct-map map, written", {{"hc_small_map", kEmpty}},
     "an increment in a small array that is not mmapable (kmalloc'd)"},
    {"per-CPU map, written", {{"hc_percpu_map", kEmpty}},
     "an increment in a per-CPU array (the kernel's per-CPU areas)"},
    {"clock read", {{"hc_clock", kEmpty}}, "bpf_ktime_get_ns()"},
    {"task storage", {{"hc_storage", kEmpty}}, "bpf_task_storage_get() of the current task, and an increment"},
    {"empty exit program", {{"hc_empty_exit", ""}}, "on sys_exit, alone: the first program of the call"},
    {"exit alone, page", {{"hc_exit_shared", "empty exit program/hc_empty_exit"}},
     "sys_exit increments its CPU's word"},
    {"empty entry + exit", {{"hc_empty", ""}, {"hc_empty_exit", ""}},
     "both empty: the exit program is the second of the call"},
    {"entry + exit, one page",
     {{"hc_enter_shared", "empty entry + exit/hc_empty"}, {"hc_exit_shared", "empty entry + exit/hc_empty_exit"}},
     "sys_enter and sys_exit each increment a word of the same page"},
    {"switch: empty program", {{"hs_empty", ""}}, "on sched_switch, a pipe ping-pong on one CPU", true},
    {"switch: prev's fields", {{"hs_task", "switch: empty program/hs_empty"}},
     "pid, state, cgroups, runtime, run-queue delay and count of prev", true},
    {"switch: thread's line", {{"hs_thread", "switch: empty program/hs_empty"}},
     "prev's runtime into its line of a 32768-line array indexed by thread id", true},
    {"switch: CPU's counter", {{"hs_counter", "switch: empty program/hs_empty"}},
     "an increment in its CPU's line of another array", true},
    {"switch: both", {{"hs_thread_counter", "switch: empty program/hs_empty"}}, "the two above", true},
};

struct Options {
    long round_trips = 100'000;
    long calls = 1'000'000;
    int rounds = 7;
    int cpu = -1;
};

using Skel = SkeletonPtr<hook_costs_bpf>;

struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;  // detached when it goes

struct Stats {
    uint64_t run_time_ns = 0, run_cnt = 0;
};

Stats stats_of(bpf_program* p) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
        throw FatalError(std::string("bpf_obj_get_info_by_fd(") + bpf_program__name(p) + "): " + errno_text(errno));
    return {info.run_time_ns, info.run_cnt};
}

// Each round's figure minus the same round's figure of `base`.
std::vector<double> minus(const std::vector<double>& v, const std::vector<double>& base) {
    std::vector<double> d;
    for (size_t r = 0; r < v.size() && r < base.size(); ++r) d.push_back(v[r] - base[r]);
    return d;
}

std::string fmt(double v, bool sign = false) {
    char b[32];
    std::snprintf(b, sizeof b, sign ? "%+.1f" : "%.1f", v);
    return b;
}

// The other end of a pipe ping-pong on the measuring CPU: every round trip is
// two context switches there. Killed and reaped with the bench.
class PingPong {
public:
    PingPong() {
        if (pipe(to_) || pipe(from_)) throw FatalError("pipe: " + errno_text(errno));
        pid_ = fork();
        if (pid_ < 0) throw FatalError("fork: " + errno_text(errno));
        if (pid_ == 0) {  // inherits the pinning
            close(to_[1]);
            close(from_[0]);
            char c;
            while (read(to_[0], &c, 1) == 1 && write(from_[1], &c, 1) == 1) {
            }
            _exit(0);
        }
        close(to_[0]);
        close(from_[1]);
    }
    ~PingPong() {
        close(to_[1]);  // the child's read sees EOF
        close(from_[0]);
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    PingPong(const PingPong&) = delete;
    PingPong& operator=(const PingPong&) = delete;
    void round_trips(long n) {
        char c = 1;
        for (long i = 0; i < n; ++i)
            if (write(to_[1], &c, 1) != 1 || read(from_[0], &c, 1) != 1)
                throw FatalError("ping-pong: " + errno_text(errno));
    }

private:
    int to_[2] = {-1, -1}, from_[2] = {-1, -1};
    pid_t pid_ = -1;
};

int run(const Options& o) {
    begin_bpf_bench("bench_hook_costs");
    Pinning pin = pin_measuring_thread(o.cpu);
    utsname u{};
    uname(&u);
    std::printf("bench_hook_costs: what one program run costs on the syscall hooks and sched_switch, piece by piece\n");
    std::printf("machine: %s, clocksource %s, kernel %s\n", cpu_model().c_str(),
                clocksource().c_str(), u.release);
    std::printf("method:  getppid() in a loop on CPU %d (sched_switch rows: a pipe ping-pong with a child on that\n"
                "         CPU, %ld round trips of two switches); one row attached at a time (tp_btf), %ld calls per row\n"
                "         and round after a twentieth as many to warm up, %d interleaved rounds. ns/run from bpf_stats (run_time_ns /\n"
                "         run_cnt) in a second loop with bpf_stats on; median [min-max] over rounds. 'above floor': the\n"
                "         median of each round's figure minus that round's empty program in the same place.\n",
                pin.cpu, o.round_trips, o.calls, o.rounds);

    auto others = programs_before_run();
    if (!others.empty())
        std::printf("warning: %zu other tracing programs are loaded (%s); programs on the same hooks change what\n"
                    "         is cold here\n",
                    others.size(), names_of(others).c_str());

    PingPong pong;
    Skel skel(hook_costs_bpf::open_and_load());
    if (!skel) throw FatalError("hook_costs: open_and_load failed: " + errno_text(errno) + " (root? BTF?)");
    if (bpf_stats_enabled())
        std::printf("warning: kernel.bpf_stats is on for everyone; the per-call figures include its clock reads\n");

    // per row: ns/call of each round; per row and program: ns/run of each round
    std::map<std::string, std::vector<double>> per_call, per_run;
    for (int round = 0; round < o.rounds; ++round) {
        for (const Row& row : kRows) {
            check_interrupted();
            std::vector<Link> links;
            std::vector<bpf_program*> progs;
            for (const Prog& prog : row.programs) {
                const char* name = prog.name;
                bpf_program* p = bpf_object__find_program_by_name(skel->obj, name);
                if (!p) throw FatalError(std::string("hook_costs: no program ") + name);
                Link l(bpf_program__attach(p));
                if (!l) throw FatalError(std::string("hook_costs: attach ") + name + ": " + errno_text(errno));
                links.push_back(std::move(l));
                progs.push_back(p);
            }
            const long units = row.switches ? o.round_trips : o.calls;
            auto work = [&](long n) {
                if (row.switches)
                    pong.round_trips(n);
                else
                    for (long i = 0; i < n; ++i) syscall(SYS_getppid);
            };
            work(units / 20);
            if (!row.switches) {  // on-CPU ns per call of this thread, bpf_stats off
                timespec t0{}, t1{};
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
                work(units);
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
                per_call[row.title].push_back(ns_between(t0, t1) / double(units));
            }
            if (progs.empty()) continue;
            int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
            if (stats_fd < 0) throw FatalError("BPF_ENABLE_STATS: " + errno_text(errno));
            Fd stats_on(stats_fd);  // on until the end of this row
            std::vector<Stats> before;
            for (bpf_program* p : progs) before.push_back(stats_of(p));
            work(units);
            for (size_t i = 0; i < progs.size(); ++i) {
                Stats after = stats_of(progs[i]);
                uint64_t runs = after.run_cnt - before[i].run_cnt;
                if (runs < static_cast<uint64_t>(units))
                    throw FatalError(std::string(row.title) + ": " + bpf_program__name(progs[i]) + " ran " +
                                     std::to_string(runs) + " times for " + std::to_string(units) +
                                     (row.switches ? " round trips" : " calls"));
                per_run[std::string(row.title) + "/" + bpf_program__name(progs[i])].push_back(
                    double(after.run_time_ns - before[i].run_time_ns) / double(runs));
            }
        }
    }

    std::printf("\n%-24s %10s %-16s %22s %12s   %s\n", "row", "call added", "program", "ns/run", "above floor",
                "what it does");
    const std::vector<double>& untraced = per_call["untraced"];
    for (const Row& row : kRows) {
        const std::vector<double>& calls = per_call[row.title];
        if (row.switches && row.programs.size() == 1 && !*row.programs[0].floor)
            std::printf("\n");  // the sched_switch rows
        // on-CPU ns per call: the untraced row's own, the others' added to it
        std::string call_added = "-";
        if (!row.switches) {
            const std::vector<double> shown = row.programs.empty() ? calls : minus(calls, untraced);
            auto [clo, chi] = std::minmax_element(shown.begin(), shown.end());
            bool sign = !row.programs.empty();
            call_added = fmt(median_of(shown), sign) + " [" + fmt(*clo, sign) + ".." + fmt(*chi, sign) + "]";
        }
        if (row.programs.empty()) {
            std::printf("%-24s %26s %-16s %22s %12s   %s\n", row.title, call_added.c_str(), "-", "-", "-", row.what);
            continue;
        }
        double sum = 0;
        for (size_t k = 0; k < row.programs.size(); ++k) {
            const Prog& prog = row.programs[k];
            const std::vector<double>& v = per_run[std::string(row.title) + "/" + prog.name];
            double med = median_of(v);
            sum += med;
            auto [lo, hi] = std::minmax_element(v.begin(), v.end());
            std::string range = fmt(med) + " [" + fmt(*lo) + "-" + fmt(*hi) + "]";
            std::string above = "-";
            if (*prog.floor) above = fmt(median_of(minus(v, per_run[prog.floor])), true);
            std::printf("%-24s %26s %-16s %22s %12s   %s\n", k == 0 ? row.title : "", k == 0 ? call_added.c_str() : "",
                        prog.name, range.c_str(), above.c_str(), k == 0 ? row.what : "");
        }
        if (row.programs.size() > 1)
            std::printf("%-24s %26s %-16s %22s\n", "", "", "(both, per call)", fmt(sum).c_str());
    }
    std::printf("\n'call added': on-CPU ns per getppid() call with bpf_stats off, minus untraced in the same round\n"
                "[min..max] (the untraced row: its own ns/call).\nWhole calls vary by more than a program costs on "
                "some VMs: read the spread before the median.\n");
    std::printf("'above floor': against the empty program in the same place (alone, or first or second of the\n"
                "call) in the same round. A page both programs of a call touch is paid for by the first.\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app("What one BPF program run costs on the syscall hooks and sched_switch, piece by piece (bpf_stats).\n"
                 "Needs root.",
                 "bench_hook_costs");
    app.add_option("--calls", o.calls, "getppid() calls per row and round")
        ->check(CLI::Range(10'000L, 1'000'000'000L))
        ->capture_default_str();
    app.add_option("--round-trips", o.round_trips, "pipe round trips (two switches each) per sched_switch row and round")
        ->check(CLI::Range(1'000L, 100'000'000L))
        ->capture_default_str();
    app.add_option("--rounds", o.rounds, "interleaved rounds; the median is reported")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    app.add_option("--cpu", o.cpu, "CPU of the calling thread (-1: the last allowed CPU)")->capture_default_str();
    return bench_main(app, argc, argv, [&] { return run(o); });
}
