// What the benchmarks in bench/ share: RAII child processes, temp dirs, a pty
// for tools that block-buffer stdout, tracefs, the list of loaded tracing BPF
// programs (to discard disturbed samples and to wait until a row's programs
// are gone), `tracer run` with a temporary config, timing, medians, and the
// row runner that attaches a configuration, measures it and detaches it.
//
// Every benchmark binary is single-threaded; nothing here is thread-safe.
#pragma once

#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr const char* kTracefs = "/sys/kernel/tracing";
inline constexpr auto kStopGrace = 5s;       // SIGINT -> SIGKILL
inline constexpr auto kDetachTimeout = 5s;   // a row's BPF programs must be gone by then
inline constexpr auto kQuietWait = 60s;      // longest wait for someone else's tracing programs to go
inline constexpr auto kSettle = 300ms;       // after attach, before warm-up

// A libbpf skeleton (the bench's floors), destroyed with its programs and links.
template <class Skel>
struct SkeletonDeleter {
    void operator()(Skel* s) const { Skel::destroy(s); }
};
template <class Skel>
using SkeletonPtr = std::unique_ptr<Skel, SkeletonDeleter<Skel>>;

// ---------------------------------------------------------------- errors, signals

// Ctrl+C / SIGTERM: unwind so every child is stopped and every program detached.
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};
// The current row cannot be measured (the next rows still can).
struct RowError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Nothing after this can be measured cleanly.
struct FatalError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// SIGINT/SIGTERM set a flag that check_interrupted() turns into Interrupted;
// SIGPIPE is ignored.
void install_stop_handlers();
void check_interrupted();
// Short sleeps between checks, so Ctrl+C is noticed within one.
void nap(std::chrono::milliseconds d);

std::string errno_text(int e);

// ---------------------------------------------------------------- files

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept;
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset();

private:
    int fd_ = -1;
};

// $TMPDIR/<prefix>.XXXXXX, removed with everything in it on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

std::string read_file(const std::string& path);
// usage_usec of the cgroup2 directory `dir`'s cpu.stat: the CPU time, in µs,
// its tasks used (user + system). FatalError when it cannot be read.
double cgroup2_cpu_usage_us(const std::string& dir);
void write_file(const std::string& path, const std::string& text);  // FatalError on failure
// Last `n` lines of `text`, each prefixed for the report.
std::string tail_lines(const std::string& text, size_t n, const std::string& prefix);

// ---------------------------------------------------------------- pty
// Tools like syscount and runqlat block-buffer stdout into a file, so their
// "Tracing ..." line would only show up at exit. Their stdout goes to a pty
// (line-buffered); what they write is also copied into a log file.

class PtyCapture {
public:
    explicit PtyCapture(const std::string& log_path);
    int slave_fd() const { return slave_.get(); }
    void close_slave() { slave_.reset(); }  // the child has its copy
    // Reads whatever the child wrote so far.
    void pump();
    const std::string& text() const { return text_; }

private:
    Fd master_, slave_, log_;
    std::string text_;
};

// ---------------------------------------------------------------- child processes

struct SpawnSpec {
    std::vector<std::string> argv;
    std::string stdout_path;  // used when stdout_fd < 0
    int stdout_fd = -1;
    std::string stderr_path;
    std::optional<cpu_set_t> affinity;
    std::string cgroup_procs;       // non-empty: the child joins this cgroup (its cgroup.procs) before exec
    std::optional<uid_t> uid;       // run as this user (and gid) instead of ours
    gid_t gid = 0;
};

// A child started with fork/exec; always stopped (SIGINT, then SIGKILL after
// kStopGrace) and reaped by the destructor. It also dies with us
// (PR_SET_PDEATHSIG), so a crash of the bench leaves nothing attached.
class Child {
public:
    explicit Child(const SpawnSpec& spec, std::function<void()> pump = {});
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { stop(); }

    pid_t pid() const { return pid_; }
    // False once the child has exited (and reaps it).
    bool alive();
    std::string exit_description() const;
    // SIGINT (clean detach), SIGKILL after kStopGrace; always reaps. Then
    // SIGKILLs whatever is left of its process group (it called setsid()).
    void stop() noexcept;

private:
    pid_t pid_ = -1;
    pid_t pgid_ = -1;  // == the child's pid (setsid), valid until stop()
    int status_ = 0;
    std::function<void()> pump_;
};

// ---------------------------------------------------------------- tracefs

// Mounted here if it is not, unmounted again at exit.
class TracefsMount {
public:
    TracefsMount() = default;
    TracefsMount(const TracefsMount&) = delete;
    TracefsMount& operator=(const TracefsMount&) = delete;
    ~TracefsMount();
    // Empty on success, else why not. `for_whom` goes into the "mounted" note.
    std::string ensure(const std::string& for_whom);

private:
    bool mounted_by_us_ = false;
};

// ---------------------------------------------------------------- BPF programs on the box
// Every tracing-type program (kprobe, tracepoint, raw_tp, fentry/tp_btf,
// perf_event). Used to (1) report which programs each row put in, (2) wait
// until they are gone before the next row, (3) notice someone else's tracer.

struct ProgInfo {
    uint32_t id;
    std::string name;
    uint64_t run_time_ns = 0;  // only counted while bpf_stats are enabled
    uint64_t run_cnt = 0;
};

std::vector<ProgInfo> tracing_programs();  // FatalError if they cannot be listed
std::set<uint32_t> ids_of(const std::vector<ProgInfo>& progs);
std::string names_of(const std::vector<ProgInfo>& progs);  // "-" for none
// Programs loaded now that were not in `before`.
std::vector<ProgInfo> new_programs(const std::set<uint32_t>& before);
// Waits (up to kDetachTimeout) until none of `ids` is loaded any more.
bool wait_programs_gone(const std::set<uint32_t>& ids, std::vector<ProgInfo>& left);
// The tracing programs loaded before a benchmark starts, once tracer's own
// (named tracer_*) that an agent which has just exited left behind are gone:
// the kernel frees a closed program's memory after a grace period, so a bench
// started right after another one finds them for a moment (waits up to
// kDetachTimeout, saying so; programs of a running agent stay and are listed).
std::vector<ProgInfo> programs_before_run();
bool bpf_stats_enabled();
// Empty if the box is as it was when the row attached: the same tracing
// programs (someone else's tracer, e.g. a test run, would be measured too) and
// kernel.bpf_stats off (it adds two clock reads to every program run).
std::string disturbance(const std::set<uint32_t>& expected);

// The floor under tracer's default config, whose sys_enter is detached
// outside latency windows: one empty program on sys_exit alone (only that
// one loaded), the least any exact syscall counter attaches. Held until the
// pointer goes; RowError if it cannot be loaded or attached.
std::shared_ptr<void> attach_empty_sys_exit();

// ---------------------------------------------------------------- tracer's /metrics

uint16_t free_loopback_port();
// Plain HTTP/1.0 GET /metrics: the body on a 200, nullopt otherwise.
std::optional<std::string> metrics_body(uint16_t port);
bool metrics_answer(uint16_t port);
// Readiness, asked of the agent: every probe in `probes` reports
// tracer_probe_up{probe="<area>"} 1 on /metrics. An agent that exports no
// tracer_probe_up at all (older builds) counts as ready once /metrics answers:
// it starts serving only after loading every probe.
bool probes_up(uint16_t port, const std::vector<std::string>& probes);

// ---------------------------------------------------------------- numbers, machine

double ns_between(const timespec& a, const timespec& b);
double median_of(std::vector<double> v);
// Half the width of an approximate 95 % confidence interval of the median of
// `v` (distribution-free, from order statistics); 0 for fewer than 3 values.
double median_ci_halfwidth(std::vector<double> v);
bool parse_long(const std::string& s, long lo, long hi, long& out);
std::string cpu_model();
// The kernel's current clocksource (tsc, kvm-clock, ...): what a clock read costs depends on it.
std::string clocksource();
// libbpf prints everything but its debug output to stderr.
void quiet_libbpf();
// The start of every BPF overhead bench `name`: a warning when not root, libbpf quiet.
void begin_bpf_bench(const char* name);

// ---------------------------------------------------------------- measuring

// One sample, per unit of work (a call, a round trip): the reported value and
// a second clock shown next to it (which clocks: up to the benchmark).
struct Sample {
    double value = 0, other = 0;
};

struct Measurement {
    double median = 0, min = 0, max = 0;  // of Sample::value
    double ci = 0;                        // median_ci_halfwidth of Sample::value
    double other_median = 0;
    std::vector<Sample> samples;          // kept, in measuring order
    int discarded = 0;                    // samples thrown away (see measure())
};

// What a row measures. time(n) does n units of work and returns the time per unit.
struct Workload {
    std::string label;                    // shown when a row measures several workloads
    std::function<Sample(long)> time;
    long sample_units = 0;                // per sample
    long warmup_units = 0;                // before the samples (a quarter after a pause)
    long stats_units = 0;                 // in the bpf_stats pass
    // Optional: other reasons why the box is not fit to measure now ("" = fit),
    // checked before and after every sample like the tracing programs.
    std::function<std::string()> unfit;
};

// Warm-up, then `samples` samples. A sample during which the set of tracing
// programs changed (checked before and after it), or workload.unfit() said so,
// is discarded and retaken; after `quiet_wait` of disturbances the row is given up.
Measurement measure(const Workload& w, int samples, const std::set<uint32_t>& expected,
                    std::chrono::seconds quiet_wait);

// Second, separate pass with kernel.bpf_stats on (it adds two clock reads per
// program run, so it is never on while timing): the average run time of each
// of the row's programs while `work` runs.
struct ProgRun {
    std::string name;
    double ns_per_run;
    uint64_t runs;
};
std::vector<ProgRun> program_run_times(const std::set<uint32_t>& ids, const std::function<void()>& work,
                                       std::string& why);

// ---------------------------------------------------------------- rows

enum class RowState { Measured, Skipped, Failed };

// One workload measured in one row.
struct Result {
    Measurement m;
    std::vector<ProgRun> prog_runs;  // from the bpf_stats pass
    long stats_units = 0;
};

struct Row {
    std::string name;
    RowState state = RowState::Failed;
    std::string note;     // why skipped / failed
    std::string progs;    // BPF programs this row added
    std::string detail;   // e.g. how tracer keyed cgroups
    std::vector<Result> results;  // one per workload, in order
};

// The measured row called `name`, or null.
const Row* find(const std::vector<Row>& rows, const std::string& name);

// What a row keeps attached while measuring; released (children stopped,
// programs detached) by destruction. `skip` set: not measurable here, not an error.
struct Setup {
    std::shared_ptr<void> hold;
    std::string skip;
    std::string detail;
    bool expect_programs = true;  // attaching must have loaded tracing programs
    pid_t pid = -1;               // the agent or tool started, if one was
};

struct RunnerOptions {
    int samples = 7;
    bool verbose = false;     // print every sample
    bool prog_stats = true;   // per-program run time via bpf_stats, in a separate pass
    std::chrono::seconds quiet_wait = std::chrono::duration_cast<std::chrono::seconds>(kQuietWait);
    std::string unit = "ns/call";                          // after a row's median
    std::string sample_legend = "on-CPU/wall ns per call"; // -v: what value/other are
};

class Runner {
public:
    // The tracing programs loaded before we start are tolerated (and reported).
    Runner(RunnerOptions o, const std::vector<ProgInfo>& baseline);

    // Waits until no tracing programs but the baseline's are loaded, attaches
    // (setup), measures every workload in order (and its bpf_stats pass),
    // detaches, and checks that the row's programs are gone.
    Row run(const std::string& name, const std::function<Setup()>& setup, const std::vector<Workload>& workloads);

private:
    RunnerOptions opt_;
    std::set<uint32_t> baseline_;
};

// ---------------------------------------------------------------- report

// The table of one workload's results (results[index]) over all rows, with the
// added cost and the ratio against the row called "untraced". Rows whose name
// starts with "untraced" get no added cost.
struct TableLabels {
    std::string value = "ns/call";  // header of Measurement::median
    std::string other = "wall";     // header of Measurement::other_median
    std::string footnote;           // printed under the table
};
void print_table(const std::vector<Row>& rows, size_t index, const TableLabels& labels);

struct Verdicts {
    bool all_met = true;
    bool any_unknown = false;  // a target could not be computed: no verdict line
    int unresolved = 0;        // targets whose ratio is within the measurement noise
};
// "  <label>  num / den = ratio   target <= limit   PASS|MISS"; records the outcome in v.
void print_target(Verdicts& v, const std::string& label, std::optional<double> num, std::optional<double> den,
                  double limit, int label_width = 50);

// "baseline drift over the run[ (<label>)]: +x%" between "untraced" and
// "untraced (again, drift)", with a warning beyond 5 %.
void print_drift(const std::vector<Row>& rows, size_t index, const std::string& label);

// Lists skipped rows; the exit status: 1 if a row failed (or `fatal`), else 0,
// after the verdict line when every target was measured.
int outcome(const std::vector<Row>& rows, bool fatal, const Verdicts& v);

// ---------------------------------------------------------------- agents

// `tracer run` with a temporary config.
struct TracerRun {
    std::string tag;                // names the temp files
    std::string yaml;               // the config, without metrics_addr (a free loopback port is added)
    std::vector<std::string> args;  // extra `tracer run` arguments, before --metrics-addr
    // The areas the config turns on: ready once the agent reports every one
    // attached (probes_up); empty: syscalls, sched, proc and net.
    std::vector<std::string> probes;
};

// A libbpf-tools style tool whose stdout goes through a pty.
struct ToolRun {
    std::string tag;                   // names the temp files
    std::string what;                  // for messages: "syscount"
    std::vector<std::string> argv;     // argv[0] is the binary
    std::string ready_text;            // printed once attached: "Tracing syscalls"
    std::string install_hint;          // appended when the binary is missing
};

class Agents {
public:
    Agents(std::string bench_name, std::string tracer, int attach_timeout_s, std::optional<cpu_set_t> affinity);
    // Every agent and tool started after this joins `cgroup_procs` (CPU accounting).
    void join_cgroup(std::string cgroup_procs) { cgroup_procs_ = std::move(cgroup_procs); }
    const std::string& tracer_path() const { return tracer_; }
    std::string temp_file(const std::string& name) const { return tmp_.file(name); }

    Setup tracer(const TracerRun& r);
    Setup tool(const ToolRun& r);

private:
    void wait_attached(Child& child, const std::string& what, const std::function<bool()>& ready,
                       const std::function<std::string()>& logs);

    std::string bench_name_, tracer_;
    int attach_timeout_s_;
    std::optional<cpu_set_t> affinity_;
    std::string cgroup_procs_;
    TempDir tmp_;
};

}  // namespace bench
