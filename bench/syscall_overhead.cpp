// bench_syscall_overhead: what one traced syscall costs under tracer, compared
// with nothing attached, with empty BPF programs on the same hooks (the floor
// every BPF syscall tracer pays) and with libbpf-tools' syscount / syscount -L,
// all measured in one run on one pinned CPU.
//
// Needs root (BPF, tracefs). See bench/README.md and docs/performance.md.
#include "empty_hooks.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef TRACER_BENCH_DEFAULT_TRACER
#define TRACER_BENCH_DEFAULT_TRACER "tracer"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC, <linux/magic.h>
constexpr auto kStopGrace = 5s;             // SIGINT -> SIGKILL
constexpr auto kDetachTimeout = 5s;         // a row's BPF programs must be gone by then
constexpr auto kQuietWait = 60s;            // longest wait for someone else's tracing programs to go
constexpr auto kSettle = 300ms;             // after attach, before warm-up

volatile sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

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

void check_interrupted() {
    if (g_stop_signal) throw Interrupted();
}

// Short sleeps between checks, so Ctrl+C is noticed within one.
void nap(std::chrono::milliseconds d) {
    check_interrupted();
    std::this_thread::sleep_for(d);
    check_interrupted();
}

std::string errno_text(int e) { return std::strerror(e); }

// ---------------------------------------------------------------- RAII: fd

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

// ---------------------------------------------------------------- RAII: temp dir

class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bench_syscall_overhead.XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) throw FatalError("mkdtemp " + tmpl + ": " + errno_text(errno));
        path_ = buf.data();
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw FatalError("cannot write " + path);
}

// Last `n` lines of `text`, each prefixed for the report.
std::string tail_lines(const std::string& text, size_t n, const std::string& prefix) {
    std::deque<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
        if (lines.size() > n) lines.pop_front();
    }
    std::string out;
    for (const auto& l : lines) out += prefix + l + "\n";
    return out.empty() ? prefix + "(empty)\n" : out;
}

// ---------------------------------------------------------------- RAII: pty
// syscount block-buffers stdout into a file, so its "Tracing syscalls..." line
// would only show up at exit. Its stdout goes to a pty (line-buffered); we copy
// what it writes into a log file.

class PtyCapture {
public:
    explicit PtyCapture(const std::string& log_path) {
        master_ = Fd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!master_.valid()) throw RowError("posix_openpt: " + errno_text(errno));
        if (::grantpt(master_.get()) || ::unlockpt(master_.get()))
            throw RowError("grantpt/unlockpt: " + errno_text(errno));
        char name[128];
        if (::ptsname_r(master_.get(), name, sizeof name)) throw RowError("ptsname_r: " + errno_text(errno));
        slave_ = Fd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!slave_.valid()) throw RowError(std::string("open ") + name + ": " + errno_text(errno));
        termios t{};
        if (::tcgetattr(slave_.get(), &t) == 0) {
            ::cfmakeraw(&t);  // no \n -> \r\n, no echo
            ::tcsetattr(slave_.get(), TCSANOW, &t);
        }
        ::fcntl(master_.get(), F_SETFL, ::fcntl(master_.get(), F_GETFL) | O_NONBLOCK);
        log_ = Fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    }
    int slave_fd() const { return slave_.get(); }
    void close_slave() { slave_.reset(); }  // the child has its copy
    // Reads whatever the child wrote so far.
    void pump() {
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(master_.get(), buf, sizeof buf);
            if (n <= 0) return;  // EAGAIN: nothing more; EIO: child side closed
            text_.append(buf, static_cast<size_t>(n));
            if (log_.valid()) {
                ssize_t w = ::write(log_.get(), buf, static_cast<size_t>(n));
                (void)w;
            }
        }
    }
    const std::string& text() const { return text_; }

private:
    Fd master_, slave_, log_;
    std::string text_;
};

// ---------------------------------------------------------------- RAII: child process

struct SpawnSpec {
    std::vector<std::string> argv;
    std::string stdout_path;  // used when stdout_fd < 0
    int stdout_fd = -1;
    std::string stderr_path;
    std::optional<cpu_set_t> affinity;
};

// A child started with fork/exec; always stopped (SIGINT, then SIGKILL after
// kStopGrace) and reaped by the destructor. It also dies with us
// (PR_SET_PDEATHSIG), so a crash of the bench leaves nothing attached.
class Child {
public:
    explicit Child(const SpawnSpec& spec, std::function<void()> pump = {}) : pump_(std::move(pump)) {
        // Everything the child needs is prepared before fork.
        std::vector<char*> argv;
        for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        Fd out;
        if (spec.stdout_fd < 0) {
            out = Fd(::open(spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
            if (!out.valid()) throw RowError("open " + spec.stdout_path + ": " + errno_text(errno));
        }
        Fd err(::open(spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!err.valid()) throw RowError("open " + spec.stderr_path + ": " + errno_text(errno));
        Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        const int out_fd = spec.stdout_fd >= 0 ? spec.stdout_fd : out.get();
        const pid_t parent = ::getpid();

        pid_t pid = ::fork();
        if (pid < 0) throw RowError("fork: " + errno_text(errno));
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::setsid();  // Ctrl+C on the terminal goes to the bench, which stops us in order
            ::signal(SIGPIPE, SIG_DFL);
            ::signal(SIGINT, SIG_DFL);
            ::signal(SIGTERM, SIG_DFL);
            if (null.valid()) ::dup2(null.get(), 0);
            ::dup2(out_fd, 1);
            ::dup2(err.get(), 2);
            if (spec.affinity) ::sched_setaffinity(0, sizeof(cpu_set_t), &*spec.affinity);
            ::execv(argv[0], argv.data());
            std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
            ::_exit(127);
        }
        pid_ = pgid_ = pid;
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { stop(); }

    pid_t pid() const { return pid_; }

    // False once the child has exited (and reaps it).
    bool alive() {
        if (pid_ < 0) return false;
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            status_ = status;
            pid_ = -1;
            return false;
        }
        return true;
    }

    std::string exit_description() const {
        if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
        if (WIFSIGNALED(status_)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status_));
        return "ended";
    }

    // SIGINT (clean detach), SIGKILL after kStopGrace; always reaps. Then
    // SIGKILLs whatever is left of its process group (it called setsid()).
    void stop() noexcept {
        if (pgid_ < 0) return;
        if (alive()) {
            ::kill(pid_, SIGINT);
            const auto deadline = Clock::now() + kStopGrace;
            while (alive() && Clock::now() < deadline) {
                if (pump_) pump_();
                std::this_thread::sleep_for(10ms);
            }
            if (pid_ >= 0) {
                std::printf("  (pid %d still running %lds after SIGINT: SIGKILL)\n", static_cast<int>(pid_),
                            static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(kStopGrace).count()));
                ::kill(-pgid_, SIGKILL);
                int status = 0;
                while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
                }
                status_ = status;
                pid_ = -1;
            }
        }
        if (pump_) pump_();
        ::kill(-pgid_, SIGKILL);  // leftovers of the group, if any (ESRCH otherwise)
        pgid_ = -1;
    }

private:
    pid_t pid_ = -1;
    pid_t pgid_ = -1;  // == the child's pid (setsid), valid until stop()
    int status_ = 0;
    std::function<void()> pump_;
};

// ---------------------------------------------------------------- RAII: tracefs

// syscount needs tracefs; mounted here if it is not, unmounted again at exit.
class TracefsMount {
public:
    TracefsMount() = default;
    TracefsMount(const TracefsMount&) = delete;
    TracefsMount& operator=(const TracefsMount&) = delete;
    ~TracefsMount() {
        if (mounted_by_us_) ::umount(kTracefs);  // EBUSY if someone else uses it now: fine
    }
    // Empty on success, else why not.
    std::string ensure() {
        struct statfs st{};
        if (::statfs(kTracefs, &st) == 0 && static_cast<long>(st.f_type) == kTracefsMagic) return "";
        if (::mount("tracefs", kTracefs, "tracefs", 0, nullptr) != 0)
            return std::string("tracefs is not mounted on ") + kTracefs + " and mounting it failed (" +
                   errno_text(errno) + "); run: mount -t tracefs tracefs " + kTracefs;
        mounted_by_us_ = true;
        std::printf("(mounted tracefs on %s for syscount; unmounted at exit)\n", kTracefs);
        return "";
    }

private:
    bool mounted_by_us_ = false;
};

// ---------------------------------------------------------------- RAII: floor skeleton

struct SkelDeleter {
    void operator()(empty_hooks_bpf* s) const { empty_hooks_bpf::destroy(s); }
};
using EmptyHooks = std::unique_ptr<empty_hooks_bpf, SkelDeleter>;

EmptyHooks attach_empty_hooks() {
    EmptyHooks skel(empty_hooks_bpf::open_and_load());
    if (!skel) throw RowError("empty_hooks: open_and_load failed: " + errno_text(errno) + " (root? BTF?)");
    if (int err = empty_hooks_bpf::attach(skel.get()))
        throw RowError("empty_hooks: attach failed: " + errno_text(-err));
    return skel;
}

// ---------------------------------------------------------------- BPF programs on the box
// Every tracing-type program (kprobe, tracepoint, raw_tp, fentry, perf_event).
// Used to (1) report which programs each row put in, (2) wait until they are
// gone before the next row, (3) warn if something else already traces.

struct ProgInfo {
    uint32_t id;
    std::string name;
    uint64_t run_time_ns = 0;  // only counted while bpf_stats are enabled
    uint64_t run_cnt = 0;
};

bool is_tracing_type(uint32_t type) {
    switch (type) {
        case BPF_PROG_TYPE_KPROBE:
        case BPF_PROG_TYPE_TRACEPOINT:
        case BPF_PROG_TYPE_PERF_EVENT:
        case BPF_PROG_TYPE_RAW_TRACEPOINT:
        case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
        case BPF_PROG_TYPE_TRACING:
            return true;
        default:
            return false;
    }
}

std::vector<ProgInfo> tracing_programs() {
    std::vector<ProgInfo> out;
    uint32_t id = 0;
    for (;;) {
        if (bpf_prog_get_next_id(id, &id) != 0) {
            if (errno == ENOENT) break;
            throw FatalError("listing BPF programs: " + errno_text(errno) + " (run as root)");
        }
        Fd fd(bpf_prog_get_fd_by_id(id));
        if (!fd.valid()) continue;  // went away meanwhile
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
        if (!is_tracing_type(info.type)) continue;
        out.push_back({id, info.name, info.run_time_ns, info.run_cnt});
    }
    return out;
}

std::set<uint32_t> ids_of(const std::vector<ProgInfo>& progs) {
    std::set<uint32_t> s;
    for (const auto& p : progs) s.insert(p.id);
    return s;
}

std::string names_of(const std::vector<ProgInfo>& progs) {
    std::string s;
    for (const auto& p : progs) s += (s.empty() ? "" : ", ") + p.name;
    return s.empty() ? "-" : s;
}

// Programs loaded now that were not in `before`.
std::vector<ProgInfo> new_programs(const std::set<uint32_t>& before) {
    std::vector<ProgInfo> out;
    for (auto& p : tracing_programs())
        if (!before.count(p.id)) out.push_back(std::move(p));
    return out;
}

// Waits until none of `ids` is loaded any more.
bool wait_programs_gone(const std::set<uint32_t>& ids, std::vector<ProgInfo>& left) {
    const auto deadline = Clock::now() + kDetachTimeout;
    for (;;) {
        left.clear();
        for (auto& p : tracing_programs())
            if (ids.count(p.id)) left.push_back(std::move(p));
        if (left.empty()) return true;
        if (Clock::now() >= deadline) return false;
        nap(20ms);
    }
}

// ---------------------------------------------------------------- tracer's /metrics

uint16_t free_loopback_port() {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) throw RowError("socket: " + errno_text(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw RowError("bind 127.0.0.1:0: " + errno_text(errno));
    socklen_t len = sizeof a;
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw RowError("getsockname: " + errno_text(errno));
    return ntohs(a.sin_port);
}

// Plain HTTP/1.0 GET /metrics; true on a 200.
bool metrics_answer(uint16_t port) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return false;
    timeval tv{1, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        ssize_t n = ::recv(s.get(), buf + got, sizeof buf - got, 0);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    std::string head(buf, got);
    return head.rfind("HTTP/1.", 0) == 0 && head.size() >= 12 && head.compare(8, 4, " 200") == 0;
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
// time other tasks spend on the CPU does not count) and as wall-clock time.
struct Sample {
    double cpu = 0, wall = 0;
};

double ns_between(const timespec& a, const timespec& b) {
    return double(b.tv_sec - a.tv_sec) * 1e9 + double(b.tv_nsec - a.tv_nsec);
}

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

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t k = v.size();
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

struct Measurement {
    double median = 0, min = 0, max = 0;  // on-CPU ns/call
    double wall_median = 0;
    std::vector<Sample> samples;          // kept, in measuring order
    int discarded = 0;                    // samples thrown away (see disturbance())
};

bool bpf_stats_enabled() {
    std::string v = read_file("/proc/sys/kernel/bpf_stats_enabled");
    return !v.empty() && v[0] != '0';
}

// Empty if the box is as it was when the row attached: the same tracing
// programs (someone else's tracer, e.g. a test run, would be measured too) and
// kernel.bpf_stats off (it adds two clock reads to every program run).
std::string disturbance(const std::set<uint32_t>& expected) {
    std::string appeared, gone;
    std::set<uint32_t> seen;
    for (const auto& p : tracing_programs()) {
        seen.insert(p.id);
        if (!expected.count(p.id)) appeared += (appeared.empty() ? "" : ", ") + p.name;
    }
    for (uint32_t id : expected)
        if (!seen.count(id)) gone += (gone.empty() ? "id " : ", id ") + std::to_string(id);
    std::string why;
    if (!appeared.empty()) why = "tracing programs appeared: " + appeared;
    if (!gone.empty()) why += (why.empty() ? "" : "; ") + std::string("tracing programs went away: ") + gone;
    if (bpf_stats_enabled()) why += (why.empty() ? "" : "; ") + std::string("kernel.bpf_stats_enabled is on");
    return why;
}

// Warm-up, then o.samples samples. A sample during which the set of tracing
// programs changed (checked before and after it) is discarded and retaken;
// after kQuietWait of disturbances the row is given up.
Measurement measure(const Options& o, const std::set<uint32_t>& expected) {
    check_interrupted();
    time_calls(warmup_calls(o));
    Measurement m;
    std::string last_why;
    bool disturbed = false;
    Clock::time_point disturbed_since = Clock::now();
    while (m.samples.size() < static_cast<size_t>(o.samples)) {
        check_interrupted();
        std::string why = disturbance(expected);
        if (why.empty()) {
            Sample s = time_calls(o.calls);
            why = disturbance(expected);
            if (why.empty()) {
                m.samples.push_back(s);
                disturbed = false;
                continue;
            }
            ++m.discarded;
        }
        if (why != last_why) std::printf("\n  (sample disturbed, discarded/waiting: %s)", why.c_str());
        last_why = why;
        if (!disturbed) disturbed_since = Clock::now();
        disturbed = true;
        if (Clock::now() - disturbed_since > kQuietWait)
            throw RowError("  measurements kept being disturbed for " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kQuietWait).count()) +
                           " s: " + why);
        nap(200ms);
        time_calls(warmup_calls(o) / 4);  // re-warm after the pause
    }
    if (!last_why.empty()) std::printf("\n  %-26s ", "");
    std::vector<double> cpu, wall;
    for (const auto& s : m.samples) {
        cpu.push_back(s.cpu);
        wall.push_back(s.wall);
    }
    m.median = median_of(cpu);
    m.wall_median = median_of(wall);
    m.min = *std::min_element(cpu.begin(), cpu.end());
    m.max = *std::max_element(cpu.begin(), cpu.end());
    return m;
}

// Second, separate pass with kernel.bpf_stats on (it adds two clock reads per
// program run, so it is never on while timing): the average run time of each
// of the row's programs. That is the programs' own work; what "added ns" has on
// top of it is the cost of the hook itself (tracepoint dispatch, BPF entry).
struct ProgRun {
    std::string name;
    double ns_per_run;
    uint64_t runs;
};

std::vector<ProgRun> program_run_times(const std::set<uint32_t>& ids, long calls, std::string& why) {
    std::vector<ProgRun> out;
    if (ids.empty()) return out;
    Fd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
    if (!stats.valid()) {
        why = "bpf_enable_stats: " + errno_text(errno);
        return out;
    }
    std::vector<ProgInfo> before;
    for (auto& p : tracing_programs())
        if (ids.count(p.id)) before.push_back(std::move(p));
    time_calls(calls);
    auto after = tracing_programs();
    for (const auto& b : before)
        for (const auto& a : after)
            if (a.id == b.id) {
                const uint64_t runs = a.run_cnt - b.run_cnt;
                out.push_back({a.name, runs ? double(a.run_time_ns - b.run_time_ns) / double(runs) : 0, runs});
            }
    return out;
}

// ---------------------------------------------------------------- rows

enum class RowState { Measured, Skipped, Failed };

struct Row {
    std::string name;
    RowState state = RowState::Failed;
    std::string note;   // why skipped / failed
    std::string progs;  // BPF programs this row added
    std::string detail; // e.g. how tracer keyed cgroups
    Measurement m;
    std::vector<ProgRun> prog_runs;  // from the bpf_stats pass
    long stats_calls = 0;
};

// What a row keeps attached while measuring; released (children stopped,
// programs detached) by destruction. `skip` set: not measurable here, not an error.
struct Setup {
    std::shared_ptr<void> hold;
    std::string skip;
    std::string detail;
    bool expect_programs = true;  // attaching must have loaded tracing programs
};

class Bench {
public:
    explicit Bench(Options o) : opt_(std::move(o)) {}

    void set_child_affinity(std::optional<cpu_set_t> a) { child_affinity_ = a; }

    // The programs loaded before we start are tolerated (and reported).
    void set_baseline(const std::vector<ProgInfo>& progs) { baseline_ = ids_of(progs); }

    Row run(const std::string& name, const std::function<Setup()>& setup) {
        Row row;
        row.name = name;
        std::printf("- %-26s ", name.c_str());
        std::fflush(stdout);

        // Our own programs of the previous row are gone (checked at its end);
        // wait for anybody else's tracing programs to go too.
        std::string said;
        for (auto deadline = Clock::now() + kQuietWait;;) {
            auto stray = new_programs(baseline_);
            if (stray.empty()) break;
            const std::string names = names_of(stray);
            if (Clock::now() >= deadline)
                throw FatalError("other tracing BPF programs stay loaded (another tracer running?): " + names);
            if (said != names) std::printf("(waiting for other tracing programs to go: %s) ", names.c_str());
            said = names;
            nap(250ms);
        }

        const auto before = ids_of(tracing_programs());
        std::set<uint32_t> added;
        try {
            Setup s = setup();
            if (!s.skip.empty()) {
                row.state = RowState::Skipped;
                row.note = s.skip;
                std::printf("SKIPPED: %s\n", s.skip.c_str());
                return row;
            }
            auto progs = new_programs(before);
            added = ids_of(progs);
            row.progs = names_of(progs);
            if (s.expect_programs && progs.empty())
                throw RowError("  attached, but no new tracing BPF program is loaded: nothing to measure");
            row.detail = s.detail;
            row.m = measure(opt_, ids_of(tracing_programs()));
            row.state = RowState::Measured;
            std::printf("%8.1f ns/call  [BPF: %s]%s%s\n", row.m.median, row.progs.c_str(),
                        row.detail.empty() ? "" : " ", row.detail.c_str());
            if (row.m.discarded) std::printf("  (%d disturbed samples discarded and retaken)\n", row.m.discarded);
            if (opt_.verbose) {
                std::printf("  samples, on-CPU/wall ns per call, in order:");
                for (const auto& x : row.m.samples) std::printf(" %.1f/%.1f", x.cpu, x.wall);
                std::printf("\n");
            }
            if (opt_.prog_stats && !added.empty()) {
                std::string why;
                row.stats_calls = warmup_calls(opt_);
                row.prog_runs = program_run_times(added, row.stats_calls, why);
                if (!why.empty()) std::printf("  (no per-program run times: %s)\n", why.c_str());
            }
            // s.hold released here: children stopped and reaped, skeleton destroyed
        } catch (const RowError& e) {
            row.state = RowState::Failed;
            row.note = e.what();
            std::printf("FAILED\n%s\n", e.what());
        }
        // Everything this row attached must be gone before the next one (and
        // the next row waits for anything else, e.g. from a setup that failed).
        std::vector<ProgInfo> left;
        if (!added.empty() && !wait_programs_gone(added, left))
            throw FatalError("'" + name + "' left BPF programs loaded " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kDetachTimeout).count()) +
                             " s after its processes were stopped: " + names_of(left));
        return row;
    }

    // Before the rows, so a mount does not happen in the middle of one.
    void prepare_tracefs() {
        if (::access(opt_.syscount.c_str(), X_OK) == 0) tracefs_problem_ = tracefs_.ensure();
    }

    Setup untraced() { return {nullptr, "", "", false}; }

    Setup empty_hooks() { return {std::make_shared<EmptyHooks>(attach_empty_hooks()), "", "", true}; }

    // `hierarchy` non-empty: cgroup_hierarchy in the YAML (default: tracer's "auto").
    // `time_all`: histogram_syscalls: ["*"], so getppid() itself is timed, as
    // syscount -L times every syscall; otherwise tracer's default allowlist,
    // which does not time getppid().
    Setup tracer(bool latency, const std::string& hierarchy = "", bool time_all = true) {
        if (::access(opt_.tracer.c_str(), X_OK) != 0)
            return {nullptr, "tracer binary " + opt_.tracer + " not runnable (" + errno_text(errno) +
                                 "); build it (cmake --build build --target tracer) or pass --tracer PATH",
                    "", false};
        const std::string tag = std::string(latency ? "tracer_lat" : "tracer_nolat") +
                                (hierarchy.empty() ? "" : "_" + hierarchy) + (time_all ? "" : "_default");
        const uint16_t port = free_loopback_port();
        const std::string addr = "127.0.0.1:" + std::to_string(port);
        const std::string config = tmp_.file(tag + ".yaml");
        write_file(config, "# written by bench_syscall_overhead\n"
                           "interval: 1\n"
                           "metrics_addr: \"" + addr + "\"\n"
                           + (hierarchy.empty() ? "" : "cgroup_hierarchy: " + hierarchy + "\n") +
                           "syscalls:\n"
                           "  latency: " + std::string(latency ? "true" : "false") + "\n" +
                           (time_all ? "  histogram_syscalls: [\"*\"]\n" : ""));
        SpawnSpec spec;
        spec.argv = {opt_.tracer, "run", "--config", config, "--interval", "1", "--metrics-addr", addr};
        spec.stdout_path = tmp_.file(tag + ".stdout");
        spec.stderr_path = tmp_.file(tag + ".stderr");
        spec.affinity = child_affinity_;
        auto child = std::make_shared<Child>(spec);
        const std::string err_path = spec.stderr_path, out_path = spec.stdout_path;
        wait_attached(*child, "tracer", [&] {
            return read_file(err_path).find("syscalls probe attached") != std::string::npos || metrics_answer(port);
        }, [&] {
            return "  tracer stderr (last lines):\n" + tail_lines(read_file(err_path), 15, "    | ") +
                   "  tracer stdout (last lines):\n" + tail_lines(read_file(out_path), 5, "    | ");
        });
        nap(kSettle);
        if (!child->alive()) throw RowError("tracer " + child->exit_description() + " right after attaching");
        // "host cgroup layout: ...; per-cgroup data keyed on the <keying>": its per-syscall cost depends on it
        std::string detail;
        const std::string log = read_file(err_path), marker = "keyed on the ";
        if (auto at = log.find(marker); at != std::string::npos) {
            const auto from = at + marker.size();
            detail = marker + log.substr(from, log.find('\n', from) - from);  // npos - from: to the end
        }
        return {child, "", detail, true};
    }

    Setup syscount(bool latency) {
        if (::access(opt_.syscount.c_str(), X_OK) != 0)
            return {nullptr, "syscount " + opt_.syscount + " not runnable (" + errno_text(errno) +
                                 "); apt-get install libbpf-tools, or pass --syscount PATH",
                    "", false};
        if (!tracefs_problem_.empty()) throw RowError(tracefs_problem_);
        const std::string tag = latency ? "syscount_L" : "syscount";
        // Declared before the child: destroyed after it, so it can drain the pty while it stops.
        struct Holder {
            PtyCapture pty;
            std::optional<Child> child;
            explicit Holder(const std::string& log) : pty(log) {}
        };
        auto h = std::make_shared<Holder>(tmp_.file(tag + ".stdout"));
        SpawnSpec spec;
        spec.argv = {opt_.syscount};
        if (latency) spec.argv.push_back("-L");
        spec.stdout_fd = h->pty.slave_fd();
        spec.stderr_path = tmp_.file(tag + ".stderr");
        spec.affinity = child_affinity_;
        Holder* raw = h.get();
        h->child.emplace(spec, [raw] { raw->pty.pump(); });
        h->pty.close_slave();
        const std::string err_path = spec.stderr_path;
        wait_attached(*h->child, "syscount", [&] {
            h->pty.pump();
            return h->pty.text().find("Tracing syscalls") != std::string::npos;
        }, [&] {
            return "  syscount stdout:\n" + tail_lines(h->pty.text(), 10, "    | ") +
                   "  syscount stderr (last lines):\n" + tail_lines(read_file(err_path), 15, "    | ");
        });
        nap(kSettle);
        if (!h->child->alive()) throw RowError("syscount " + h->child->exit_description() + " right after attaching");
        return {h, "", "", true};
    }

private:
    void wait_attached(Child& child, const std::string& what, const std::function<bool()>& ready,
                       const std::function<std::string()>& logs) {
        const auto deadline = Clock::now() + std::chrono::seconds(opt_.attach_timeout_s);
        for (;;) {
            if (ready()) return;
            if (!child.alive())
                throw RowError("  " + what + " " + child.exit_description() + " before attaching\n" + logs());
            if (Clock::now() >= deadline)
                throw RowError("  " + what + " not attached after " + std::to_string(opt_.attach_timeout_s) +
                               " s (no attach line / no /metrics)\n" + logs());
            nap(50ms);
        }
    }

    Options opt_;
    TempDir tmp_;
    TracefsMount tracefs_;
    std::optional<cpu_set_t> child_affinity_;
    std::set<uint32_t> baseline_;
    std::string tracefs_problem_;
};

// ---------------------------------------------------------------- report

const Row* find(const std::vector<Row>& rows, const std::string& name) {
    for (const auto& r : rows)
        if (r.name == name && r.state == RowState::Measured) return &r;
    return nullptr;
}

void print_table(const std::vector<Row>& rows) {
    const Row* base = find(rows, "untraced");
    std::printf("\n%-26s %9s %8s %10s %11s %8s   %s\n", "configuration", "ns/call", "spread", "added ns",
                "x untraced", "wall", "BPF programs added");
    std::printf("%-26s %9s %8s %10s %11s %8s   %s\n", "-------------", "-------", "------", "--------",
                "----------", "----", "------------------");
    for (const auto& r : rows) {
        if (r.state != RowState::Measured) {
            std::printf("%-26s %9s   %s\n", r.name.c_str(), r.state == RowState::Skipped ? "SKIPPED" : "FAILED",
                        r.state == RowState::Skipped ? "(skipped, see below)" : "(could not be measured, see above)");
            continue;
        }
        char added[32] = "-", times[32] = "-";
        if (base && &r != base && r.name.rfind("untraced", 0) != 0) {
            std::snprintf(added, sizeof added, "%+.1f", r.m.median - base->m.median);
        }
        if (base) std::snprintf(times, sizeof times, "%.2f", r.m.median / base->m.median);
        double spread = r.m.median > 0 ? (r.m.max - r.m.min) / r.m.median * 100 : 0;
        std::printf("%-26s %9.1f %7.1f%% %10s %11s %8.1f   %s\n", r.name.c_str(), r.m.median, spread, added, times,
                    r.m.wall_median, r.progs.c_str());
    }
    std::printf("(ns/call: median on-CPU time; spread: (max - min) / median of the samples; wall: median\n"
                " wall-clock ns/call, higher than ns/call when other tasks took the CPU)\n");
}

void print_prog_runs(const std::vector<Row>& rows) {
    bool any = false;
    for (const auto& r : rows) any = any || !r.prog_runs.empty();
    if (!any) return;
    // bpf_stats reads the clock twice around every run: an empty program's
    // ns/run is that overhead, subtracted to estimate each program's own work.
    std::optional<double> empty;
    if (const Row* f = find(rows, "empty hooks (floor)"); f && !f->prog_runs.empty()) {
        double sum = 0;
        for (const auto& p : f->prog_runs) sum += p.ns_per_run;
        empty = sum / double(f->prog_runs.size());
    }
    std::printf("\nBPF programs' run time (kernel.bpf_stats, in a separate pass after the timed samples).\n"
                "ns/run includes bpf_stats' own clock reads; 'work' = ns/run - an empty program's ns/run%s.\n"
                "Neither includes the hook's own cost (tracepoint dispatch, BPF entry/exit).\n",
                empty ? "" : " (no floor row: not computed)");
    std::printf("%-26s %-18s %9s %8s %10s\n", "configuration", "program", "ns/run", "work", "runs");
    for (const auto& r : rows) {
        double sum = 0;
        int n = 0;
        for (const auto& p : r.prog_runs) {
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
            if (double(p.runs) >= 0.5 * double(r.stats_calls)) {
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

struct Verdicts {
    bool all_met = true;
    bool any_unknown = false;
};

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
        return r->m.median - base->m.median;
    };
    auto floor = added("empty hooks (floor)");
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

    std::printf("\ntargets\n");
    auto target = [&](const char* label, std::optional<double> num, std::optional<double> den, double limit) {
        if (!num || !den) {
            std::printf("  %-50s  n/a   target <= %.2f   NOT MEASURED\n", label, limit);
            v.any_unknown = true;
            return;
        }
        if (*den <= 0) {
            std::printf("  %-50s  n/a (denominator %+.1f ns <= 0)   target <= %.2f   NOT MEASURED\n", label, *den,
                        limit);
            v.any_unknown = true;
            return;
        }
        double ratio = *num / *den;
        bool pass = ratio <= limit;
        if (!pass) v.all_met = false;
        std::printf("  %-50s  %6.1f / %6.1f = %.2f   target <= %.2f   %s\n", label, *num, *den, ratio, limit,
                    pass ? "PASS" : "MISS");
    };
    target("tracer (latency on) added / syscount -L added", lat_on, sc_l, 0.5);
    target("tracer (latency off) added / syscount added", lat_off, sc, 1.0);
    return v;
}

// ---------------------------------------------------------------- main

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: bench_syscall_overhead [--tracer PATH] [--syscount PATH] [--calls N] [--samples K]\n"
                 "                              [--cpu C] [--attach-timeout S] [--variants] [--no-prog-stats] [-v]\n"
                 "Cost of one getppid() syscall: untraced, empty BPF hooks (floor), tracer run (latency on/off),\n"
                 "syscount, syscount -L; all in one run. Needs root.\n"
                 "  --tracer PATH         tracer binary [default: %s]\n"
                 "  --syscount PATH       libbpf-tools syscount [default: /usr/sbin/syscount]\n"
                 "  --calls N             calls per sample [default: 2000000]\n"
                 "  --samples K           samples per configuration; the median is reported [default: 7]\n"
                 "  --cpu C               CPU the measuring thread is pinned to [default: the last allowed CPU]\n"
                 "  --attach-timeout S    seconds to wait for tracer/syscount to attach [default: 20]\n"
                 "  --variants            also tracer with `cgroup_hierarchy: unified` (cgroup id helper instead\n"
                 "                        of the v1 CO-RE read chain; differs from the default on v1/hybrid hosts)\n"
                 "  --no-prog-stats       skip the separate pass that reads per-program run times (bpf_stats)\n"
                 "  -v, --verbose         print every sample\n"
                 "Exit status: 0 when every available configuration was measured (missing tracer/syscount\n"
                 "binaries are skipped, loudly), 1 when something could not be measured, 2 on usage errors.\n",
                 TRACER_BENCH_DEFAULT_TRACER);
}

bool parse_long(const std::string& s, long lo, long hi, long& out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s.c_str(), &end, 10);
    if (errno || end == s.c_str() || *end || v < lo || v > hi) return false;
    out = v;
    return true;
}

std::optional<Options> parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], val;
        bool has_val = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            val = a.substr(eq + 1);
            a = a.substr(0, eq);
            has_val = true;
        }
        if (a == "-h" || a == "--help") {
            usage(stdout);
            std::exit(0);
        }
        auto value = [&]() -> std::optional<std::string> {
            if (has_val) return val;
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        auto bad = [&](const std::string& why) {
            std::fprintf(stderr, "bench_syscall_overhead: %s %s\n", a.c_str(), why.c_str());
            return std::nullopt;
        };
        long n = 0;
        if (a == "--tracer" || a == "--syscount") {
            auto v = value();
            if (!v || v->empty()) return bad("needs a path");
            (a == "--tracer" ? o.tracer : o.syscount) = *v;
        } else if (a == "--calls") {
            auto v = value();
            if (!v || !parse_long(*v, 1000, 1'000'000'000L, n)) return bad("needs a number in [1000, 1e9]");
            o.calls = n;
        } else if (a == "--samples") {
            auto v = value();
            if (!v || !parse_long(*v, 1, 1000, n)) return bad("needs a number in [1, 1000]");
            o.samples = static_cast<int>(n);
        } else if (a == "--cpu") {
            auto v = value();
            if (!v || !parse_long(*v, 0, CPU_SETSIZE - 1, n)) return bad("needs a CPU number");
            o.cpu = static_cast<int>(n);
        } else if (a == "--variants" && !has_val) {
            o.variants = true;
        } else if ((a == "-v" || a == "--verbose") && !has_val) {
            o.verbose = true;
        } else if (a == "--no-prog-stats" && !has_val) {
            o.prog_stats = false;
        } else if (a == "--attach-timeout") {
            auto v = value();
            if (!v || !parse_long(*v, 1, 3600, n)) return bad("needs seconds in [1, 3600]");
            o.attach_timeout_s = static_cast<int>(n);
        } else {
            std::fprintf(stderr, "bench_syscall_overhead: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return std::nullopt;
        }
    }
    return o;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            auto c = line.find(':');
            if (c != std::string::npos) return line.substr(std::min(c + 2, line.size()));
        }
    return "unknown CPU";
}

int libbpf_quiet(enum libbpf_print_level level, const char* fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    return std::vfprintf(stderr, fmt, ap);
}

int run(const Options& opt) {
    if (::geteuid() != 0)
        std::fprintf(stderr, "bench_syscall_overhead: warning: not root; loading BPF will most likely fail\n");
    libbpf_set_print(libbpf_quiet);

    // ---- CPUs: the measuring thread on one, the agents on the others
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        std::fprintf(stderr, "sched_getaffinity: %s\n", std::strerror(errno));
        return 1;
    }
    int cpu = opt.cpu;
    if (cpu < 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &allowed)) cpu = c;
    if (cpu < 0 || !CPU_ISSET(cpu, &allowed)) {
        std::fprintf(stderr, "bench_syscall_overhead: CPU %d is not available to this process\n", opt.cpu);
        return 2;
    }
    cpu_set_t others = allowed;
    CPU_CLR(cpu, &others);
    std::optional<cpu_set_t> child_affinity;
    if (CPU_COUNT(&others) > 0) child_affinity = others;
    cpu_set_t mine;
    CPU_ZERO(&mine);
    CPU_SET(cpu, &mine);
    if (::sched_setaffinity(0, sizeof mine, &mine) != 0) {
        std::fprintf(stderr, "sched_setaffinity(CPU %d): %s\n", cpu, std::strerror(errno));
        return 1;
    }

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
        auto pre = tracing_programs();
        if (!pre.empty())
            std::printf("WARNING: %zu tracing BPF programs were already loaded before the run (%s).\n"
                        "         If any of them hooks syscalls, every row (\"untraced\" too) includes its cost.\n\n",
                        pre.size(), names_of(pre).c_str());
        Bench bench(opt);
        bench.set_baseline(pre);
        bench.set_child_affinity(child_affinity);
        bench.prepare_tracefs();
        rows.push_back(bench.run("untraced", [&] { return bench.untraced(); }));
        rows.push_back(bench.run("empty hooks (floor)", [&] { return bench.empty_hooks(); }));
        rows.push_back(bench.run("tracer (latency on)", [&] { return bench.tracer(true); }));
        rows.push_back(bench.run("tracer (latency off)", [&] { return bench.tracer(false); }));
        rows.push_back(bench.run("tracer (default config)", [&] { return bench.tracer(true, "", false); }));
        if (opt.variants) {
            rows.push_back(bench.run("tracer (lat on, v2 key)", [&] { return bench.tracer(true, "unified"); }));
            rows.push_back(bench.run("tracer (lat off, v2 key)", [&] { return bench.tracer(false, "unified"); }));
        }
        rows.push_back(bench.run("syscount", [&] { return bench.syscount(false); }));
        rows.push_back(bench.run("syscount -L", [&] { return bench.syscount(true); }));
        rows.push_back(bench.run("untraced (again, drift)", [&] { return bench.untraced(); }));
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
    const Row* b0 = find(rows, "untraced");
    const Row* b1 = find(rows, "untraced (again, drift)");
    if (b0 && b1) {
        double drift = (b1->m.median - b0->m.median) / b0->m.median * 100;
        std::printf("baseline drift over the run: %+.1f%%%s\n", drift,
                    std::fabs(drift) > 5 ? "  <- WARNING: the machine was not quiet; rerun" : "");
    }
    print_prog_runs(rows);
    Verdicts v = print_ratios(rows);

    bool failed = fatal, skipped = false;
    for (const auto& r : rows) {
        if (r.state == RowState::Failed) failed = true;
        if (r.state == RowState::Skipped) skipped = true;
    }
    if (skipped) {
        std::printf("\n!!! SKIPPED configurations (not counted as failures):\n");
        for (const auto& r : rows)
            if (r.state == RowState::Skipped) std::printf("!!!   %s: %s\n", r.name.c_str(), r.note.c_str());
    }
    if (failed) {
        std::printf("\n!!! Some configurations could NOT be measured (see above): exit status 1\n");
        return 1;
    }
    if (!v.any_unknown)
        std::printf("\nverdict: %s\n", v.all_met ? "all targets met" : "targets MISSED (see above)");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto opt = parse_args(argc, argv);
    if (!opt) return 2;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    return run(*opt);
}
