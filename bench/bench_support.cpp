#include "bench_support.h"
#include "empty_hooks.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace bench {

namespace {

constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC, <linux/magic.h>

volatile sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

int libbpf_quiet(enum libbpf_print_level level, const char* fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    return std::vfprintf(stderr, fmt, ap);
}

}  // namespace

// ---------------------------------------------------------------- errors, signals

void install_stop_handlers() {
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
}

void check_interrupted() {
    if (g_stop_signal) throw Interrupted();
}

void nap(std::chrono::milliseconds d) {
    check_interrupted();
    std::this_thread::sleep_for(d);
    check_interrupted();
}

std::string errno_text(int e) { return std::strerror(e); }

// ---------------------------------------------------------------- files

Fd::Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

void Fd::reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

TempDir::TempDir(const std::string& prefix) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw FatalError("mkdtemp " + tmpl + ": " + errno_text(errno));
    path_ = buf.data();
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

double cgroup2_cpu_usage_us(const std::string& dir) {
    std::istringstream in(read_file(dir + "/cpu.stat"));
    std::string k;
    double v = 0;
    while (in >> k >> v)
        if (k == "usage_usec") return v;
    throw FatalError("no usage_usec in " + dir + "/cpu.stat");
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw FatalError("cannot write " + path);
}

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

// ---------------------------------------------------------------- pty

PtyCapture::PtyCapture(const std::string& log_path) {
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

void PtyCapture::pump() {
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

// ---------------------------------------------------------------- child processes

Child::Child(const SpawnSpec& spec, std::function<void()> pump) : pump_(std::move(pump)) {
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
        if (!spec.cgroup_procs.empty()) {
            int fd = ::open(spec.cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || ::write(fd, "0", 1) != 1) {
                std::fprintf(stderr, "join cgroup %s: %s\n", spec.cgroup_procs.c_str(), std::strerror(errno));
                ::_exit(127);
            }
            ::close(fd);
        }
        if (spec.uid && (::setgroups(0, nullptr) != 0 || ::setgid(spec.gid) != 0 || ::setuid(*spec.uid) != 0)) {
            std::fprintf(stderr, "switch to uid %u: %s\n", unsigned(*spec.uid), std::strerror(errno));
            ::_exit(127);
        }
        ::execv(argv[0], argv.data());
        std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    pid_ = pgid_ = pid;
}

bool Child::alive() {
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

std::string Child::exit_description() const {
    if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
    if (WIFSIGNALED(status_)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status_));
    return "ended";
}

void Child::stop() noexcept {
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

// ---------------------------------------------------------------- tracefs

TracefsMount::~TracefsMount() {
    if (mounted_by_us_) ::umount(kTracefs);  // EBUSY if someone else uses it now: fine
}

std::string TracefsMount::ensure(const std::string& for_whom) {
    struct statfs st{};
    if (::statfs(kTracefs, &st) == 0 && static_cast<long>(st.f_type) == kTracefsMagic) return "";
    if (::mount("tracefs", kTracefs, "tracefs", 0, nullptr) != 0)
        return std::string("tracefs is not mounted on ") + kTracefs + " and mounting it failed (" +
               errno_text(errno) + "); run: mount -t tracefs tracefs " + kTracefs;
    mounted_by_us_ = true;
    std::printf("(mounted tracefs on %s for %s; unmounted at exit)\n", kTracefs, for_whom.c_str());
    return "";
}

// ---------------------------------------------------------------- BPF programs on the box

namespace {

bool is_tracing_type(uint32_t type) {
    switch (type) {
        case BPF_PROG_TYPE_KPROBE:
        case BPF_PROG_TYPE_TRACEPOINT:
        case BPF_PROG_TYPE_PERF_EVENT:
        case BPF_PROG_TYPE_RAW_TRACEPOINT:
        case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
        case BPF_PROG_TYPE_TRACING:
        case BPF_PROG_TYPE_CGROUP_SKB:  // per-packet hooks: tracer's network probe
            return true;
        default:
            return false;
    }
}

}  // namespace

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

std::vector<ProgInfo> new_programs(const std::set<uint32_t>& before) {
    std::vector<ProgInfo> out;
    for (auto& p : tracing_programs())
        if (!before.count(p.id)) out.push_back(std::move(p));
    return out;
}

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

std::vector<ProgInfo> programs_before_run() {
    auto now = tracing_programs();
    std::set<uint32_t> ours;
    for (const auto& p : now)
        if (p.name.starts_with("tracer_")) ours.insert(p.id);
    if (ours.empty()) return now;
    std::vector<ProgInfo> left;
    const auto start = Clock::now();
    if (wait_programs_gone(ours, left))
        std::printf("note: waited %.1f s for %zu tracer programs an exited agent left to be freed\n",
                    std::chrono::duration<double>(Clock::now() - start).count(), ours.size());
    return tracing_programs();
}

bool bpf_stats_enabled() {
    std::string v = read_file("/proc/sys/kernel/bpf_stats_enabled");
    return !v.empty() && v[0] != '0';
}

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

std::optional<std::string> metrics_body(uint16_t port) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return std::nullopt;
    timeval tv{1, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return std::nullopt;
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return std::nullopt;
    std::string text;
    char buf[16384];
    for (;;) {
        ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    if (text.rfind("HTTP/1.", 0) != 0 || text.size() < 12 || text.compare(8, 4, " 200") != 0) return std::nullopt;
    const auto body = text.find("\r\n\r\n");
    return body == std::string::npos ? std::string() : text.substr(body + 4);
}

bool metrics_answer(uint16_t port) { return metrics_body(port).has_value(); }

bool probes_up(uint16_t port, const std::vector<std::string>& probes) {
    const auto body = metrics_body(port);
    if (!body) return false;
    if (body->find("tracer_probe_up{") == std::string::npos) return true;  // an agent without the gauges
    for (const auto& p : probes)
        if (body->find("tracer_probe_up{probe=\"" + p + "\"} 1") == std::string::npos) return false;
    return true;
}

// ---------------------------------------------------------------- numbers, machine

double ns_between(const timespec& a, const timespec& b) {
    return double(b.tv_sec - a.tv_sec) * 1e9 + double(b.tv_nsec - a.tv_nsec);
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t k = v.size();
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

double median_ci_halfwidth(std::vector<double> v) {
    const size_t n = v.size();
    if (n < 3) return 0;
    std::sort(v.begin(), v.end());
    // ranks n/2 -+ 0.98 sqrt(n) (1-based): the normal approximation of the
    // binomial order-statistic interval
    const double half = 0.98 * std::sqrt(double(n));
    const long lo = std::max(1L, static_cast<long>(std::floor(double(n) / 2 - half)));
    const long hi = std::min(static_cast<long>(n), static_cast<long>(std::ceil(double(n) / 2 + half + 1)));
    return (v[static_cast<size_t>(hi - 1)] - v[static_cast<size_t>(lo - 1)]) / 2;
}

bool parse_long(const std::string& s, long lo, long hi, long& out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s.c_str(), &end, 10);
    if (errno || end == s.c_str() || *end || v < lo || v > hi) return false;
    out = v;
    return true;
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

std::string clocksource() {
    std::ifstream in("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string s;
    std::getline(in, s);
    return s.empty() ? "unknown" : s;
}

void quiet_libbpf() { libbpf_set_print(libbpf_quiet); }

void begin_bpf_bench(const char* name) {
    if (::geteuid() != 0) std::fprintf(stderr, "%s: warning: not root; loading BPF will most likely fail\n", name);
    quiet_libbpf();
}

// ---------------------------------------------------------------- measuring

Measurement measure(const Workload& w, int samples, const std::set<uint32_t>& expected,
                    std::chrono::seconds quiet_wait) {
    check_interrupted();
    w.time(w.warmup_units);
    Measurement m;
    std::string last_why;
    bool disturbed = false;
    Clock::time_point disturbed_since = Clock::now();
    auto why_unfit = [&] {
        std::string why = disturbance(expected);
        if (w.unfit)
            if (std::string more = w.unfit(); !more.empty()) why += (why.empty() ? "" : "; ") + more;
        return why;
    };
    while (m.samples.size() < static_cast<size_t>(samples)) {
        check_interrupted();
        std::string why = why_unfit();
        if (why.empty()) {
            Sample s = w.time(w.sample_units);
            why = why_unfit();
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
        if (Clock::now() - disturbed_since > quiet_wait)
            throw RowError("  measurements kept being disturbed for " + std::to_string(quiet_wait.count()) +
                           " s: " + why);
        nap(200ms);
        w.time(w.warmup_units / 4);  // re-warm after the pause
    }
    if (!last_why.empty()) std::printf("\n  %-26s ", "");
    std::vector<double> value, other;
    for (const auto& s : m.samples) {
        value.push_back(s.value);
        other.push_back(s.other);
    }
    m.median = median_of(value);
    m.ci = median_ci_halfwidth(value);
    m.other_median = median_of(other);
    m.min = *std::min_element(value.begin(), value.end());
    m.max = *std::max_element(value.begin(), value.end());
    return m;
}

std::vector<ProgRun> program_run_times(const std::set<uint32_t>& ids, const std::function<void()>& work,
                                       std::string& why) {
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
    work();
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

const Row* find(const std::vector<Row>& rows, const std::string& name) {
    for (const auto& r : rows)
        if (r.name == name && r.state == RowState::Measured) return &r;
    return nullptr;
}

Runner::Runner(RunnerOptions o, const std::vector<ProgInfo>& baseline)
    : opt_(std::move(o)), baseline_(ids_of(baseline)) {}

Row Runner::run(const std::string& name, const std::function<Setup()>& setup, const std::vector<Workload>& workloads) {
    Row row;
    row.name = name;
    std::printf("- %-26s ", name.c_str());
    std::fflush(stdout);
    // One unlabelled workload: its result goes on the row's line; several: a line each.
    const bool one_line = workloads.size() == 1 && workloads[0].label.empty();

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
        if (!one_line)
            std::printf("[BPF: %s]%s%s\n", row.progs.c_str(), row.detail.empty() ? "" : " ", row.detail.c_str());
        for (const auto& w : workloads) {
            if (!one_line) {
                std::printf("    %-24s ", w.label.c_str());
                std::fflush(stdout);
            }
            Result res;
            res.m = measure(w, opt_.samples, ids_of(tracing_programs()), opt_.quiet_wait);
            if (one_line)
                std::printf("%8.1f %s  [BPF: %s]%s%s\n", res.m.median, opt_.unit.c_str(), row.progs.c_str(),
                            row.detail.empty() ? "" : " ", row.detail.c_str());
            else
                std::printf("%8.1f %s\n", res.m.median, opt_.unit.c_str());
            if (res.m.discarded) std::printf("  (%d disturbed samples discarded and retaken)\n", res.m.discarded);
            if (opt_.verbose) {
                std::printf("  samples, %s, in order:", opt_.sample_legend.c_str());
                for (const auto& x : res.m.samples) std::printf(" %.1f/%.1f", x.value, x.other);
                std::printf("\n");
            }
            if (opt_.prog_stats && !added.empty()) {
                std::string why;
                res.stats_units = w.stats_units;
                res.prog_runs = program_run_times(added, [&] { w.time(w.stats_units); }, why);
                if (!why.empty()) std::printf("  (no per-program run times: %s)\n", why.c_str());
            }
            row.results.push_back(std::move(res));
        }
        row.state = RowState::Measured;
        // s.hold released here: children stopped and reaped, programs detached
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

// ---------------------------------------------------------------- report

void print_table(const std::vector<Row>& rows, size_t index, const TableLabels& labels) {
    const Row* base = find(rows, "untraced");
    if (base && base->results.size() <= index) base = nullptr;
    std::printf("\n%-26s %9s %8s %10s %11s %8s   %s\n", "configuration", labels.value.c_str(), "spread", "added ns",
                "x untraced", labels.other.c_str(), "BPF programs added");
    std::printf("%-26s %9s %8s %10s %11s %8s   %s\n", "-------------", std::string(labels.value.size(), '-').c_str(),
                "------", "--------", "----------", std::string(labels.other.size(), '-').c_str(),
                "------------------");
    for (const auto& r : rows) {
        if (r.state != RowState::Measured || r.results.size() <= index) {
            std::printf("%-26s %9s   %s\n", r.name.c_str(), r.state == RowState::Skipped ? "SKIPPED" : "FAILED",
                        r.state == RowState::Skipped ? "(skipped, see below)" : "(could not be measured, see above)");
            continue;
        }
        const Measurement& m = r.results[index].m;
        char added[32] = "-", times[32] = "-";
        if (base && &r != base && r.name.rfind("untraced", 0) != 0) {
            std::snprintf(added, sizeof added, "%+.1f", m.median - base->results[index].m.median);
        }
        if (base) std::snprintf(times, sizeof times, "%.2f", m.median / base->results[index].m.median);
        double spread = m.median > 0 ? (m.max - m.min) / m.median * 100 : 0;
        std::printf("%-26s %9.1f %7.1f%% %10s %11s %8.1f   %s\n", r.name.c_str(), m.median, spread, added, times,
                    m.other_median, r.progs.c_str());
    }
    if (!labels.footnote.empty()) std::printf("%s\n", labels.footnote.c_str());
}

void print_target(Verdicts& v, const std::string& label, std::optional<double> num, std::optional<double> den,
                  double limit, int label_width) {
    if (!num || !den) {
        std::printf("  %-*s  n/a   target <= %.2f   NOT MEASURED\n", label_width, label.c_str(), limit);
        v.any_unknown = true;
        return;
    }
    if (*den <= 0) {
        std::printf("  %-*s  n/a (denominator %+.1f ns <= 0)   target <= %.2f   NOT MEASURED\n", label_width,
                    label.c_str(), *den, limit);
        v.any_unknown = true;
        return;
    }
    double ratio = *num / *den;
    bool pass = ratio <= limit;
    if (!pass) v.all_met = false;
    std::printf("  %-*s  %6.1f / %6.1f = %.2f   target <= %.2f   %s\n", label_width, label.c_str(), *num, *den, ratio,
                limit, pass ? "PASS" : "MISS");
}

void print_drift(const std::vector<Row>& rows, size_t index, const std::string& label) {
    const Row* b0 = find(rows, "untraced");
    const Row* b1 = find(rows, "untraced (again, drift)");
    if (!b0 || !b1 || b0->results.size() <= index || b1->results.size() <= index) return;
    const double m0 = b0->results[index].m.median, m1 = b1->results[index].m.median;
    double drift = (m1 - m0) / m0 * 100;
    std::printf("baseline drift over the run%s: %+.1f%%%s\n", label.empty() ? "" : (" (" + label + ")").c_str(), drift,
                std::fabs(drift) > 5 ? "  <- WARNING: the machine was not quiet; rerun" : "");
}

int outcome(const std::vector<Row>& rows, bool fatal, const Verdicts& v) {
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
    if (!v.any_unknown) {
        std::string unresolved;
        if (v.unresolved)
            unresolved = "; " + std::to_string(v.unresolved) + " not resolved (within the measurement noise)";
        if (v.all_met)
            std::printf("\nverdict: %s%s\n", v.unresolved ? "no target missed" : "all targets met", unresolved.c_str());
        else
            std::printf("\nverdict: targets MISSED (see above)%s\n", unresolved.c_str());
    }
    return 0;
}

// ---------------------------------------------------------------- agents

Agents::Agents(std::string bench_name, std::string tracer, int attach_timeout_s, std::optional<cpu_set_t> affinity)
    : bench_name_(std::move(bench_name)),
      tracer_(std::move(tracer)),
      attach_timeout_s_(attach_timeout_s),
      affinity_(affinity),
      tmp_(bench_name_) {}

Setup Agents::tracer(const TracerRun& r) {
    if (::access(tracer_.c_str(), X_OK) != 0)
        return {nullptr, "tracer binary " + tracer_ + " not runnable (" + errno_text(errno) +
                             "); build it (cmake --build build --target tracer) or pass --tracer PATH",
                "", false};
    const uint16_t port = free_loopback_port();
    const std::string addr = "127.0.0.1:" + std::to_string(port);
    const std::string config = tmp_.file(r.tag + ".yaml");
    write_file(config, "# written by " + bench_name_ + "\n" + "metrics_addr: \"" + addr + "\"\n" + r.yaml);
    SpawnSpec spec;
    spec.argv = {tracer_, "run", "--config", config};
    spec.argv.insert(spec.argv.end(), r.args.begin(), r.args.end());
    spec.argv.insert(spec.argv.end(), {"--metrics-addr", addr});
    spec.stdout_path = tmp_.file(r.tag + ".stdout");
    spec.stderr_path = tmp_.file(r.tag + ".stderr");
    spec.affinity = affinity_;
    spec.cgroup_procs = cgroup_procs_;
    auto child = std::make_shared<Child>(spec);
    const std::string err_path = spec.stderr_path, out_path = spec.stdout_path;
    const std::vector<std::string> probes =
        r.probes.empty() ? std::vector<std::string>{"syscalls", "sched", "proc", "net"} : r.probes;
    wait_attached(*child, "tracer", [&] { return probes_up(port, probes); }, [&] {
        return "  tracer stderr (last lines):\n" + tail_lines(read_file(err_path), 15, "    | ") +
               "  tracer stdout (last lines):\n" + tail_lines(read_file(out_path), 5, "    | ");
    });
    nap(kSettle);
    if (!child->alive()) throw RowError("tracer " + child->exit_description() + " right after attaching");
    // "host cgroup layout: ...; per-cgroup data keyed on the <keying>": the per-event cost depends on it
    std::string detail;
    const std::string log = read_file(err_path), marker = "keyed on the ";
    if (auto at = log.find(marker); at != std::string::npos) {
        const auto from = at + marker.size();
        detail = marker + log.substr(from, log.find('\n', from) - from);  // npos - from: to the end
    }
    return {child, "", detail, true, child->pid()};
}

Setup Agents::tool(const ToolRun& r) {
    if (::access(r.argv.at(0).c_str(), X_OK) != 0)
        return {nullptr, r.what + " " + r.argv[0] + " not runnable (" + errno_text(errno) + ")" + r.install_hint, "",
                false};
    // Declared before the child: destroyed after it, so it can drain the pty while it stops.
    struct Holder {
        PtyCapture pty;
        std::optional<Child> child;
        explicit Holder(const std::string& log) : pty(log) {}
    };
    auto h = std::make_shared<Holder>(tmp_.file(r.tag + ".stdout"));
    SpawnSpec spec;
    spec.argv = r.argv;
    spec.stdout_fd = h->pty.slave_fd();
    spec.stderr_path = tmp_.file(r.tag + ".stderr");
    spec.affinity = affinity_;
    spec.cgroup_procs = cgroup_procs_;
    Holder* raw = h.get();
    h->child.emplace(spec, [raw] { raw->pty.pump(); });
    h->pty.close_slave();
    const std::string err_path = spec.stderr_path;
    wait_attached(*h->child, r.what, [&] {
        h->pty.pump();
        return h->pty.text().find(r.ready_text) != std::string::npos;
    }, [&] {
        return "  " + r.what + " stdout:\n" + tail_lines(h->pty.text(), 10, "    | ") + "  " + r.what +
               " stderr (last lines):\n" + tail_lines(read_file(err_path), 15, "    | ");
    });
    nap(kSettle);
    if (!h->child->alive()) throw RowError(r.what + " " + h->child->exit_description() + " right after attaching");
    return {h, "", "", true, h->child->pid()};
}

void Agents::wait_attached(Child& child, const std::string& what, const std::function<bool()>& ready,
                           const std::function<std::string()>& logs) {
    const auto deadline = Clock::now() + std::chrono::seconds(attach_timeout_s_);
    for (;;) {
        if (ready()) return;
        if (!child.alive())
            throw RowError("  " + what + " " + child.exit_description() + " before attaching\n" + logs());
        if (Clock::now() >= deadline)
            throw RowError("  " + what + " not attached after " + std::to_string(attach_timeout_s_) +
                           " s (probes not all up on /metrics, or no ready line)\n" + logs());
        nap(50ms);
    }
}

std::shared_ptr<void> attach_empty_sys_exit() {
    struct EmptySysExit {
        SkeletonPtr<empty_hooks_bpf> skel;
        std::unique_ptr<bpf_link, decltype(&bpf_link__destroy)> link{nullptr, bpf_link__destroy};
    };
    auto h = std::make_shared<EmptySysExit>();
    h->skel.reset(empty_hooks_bpf::open());
    if (!h->skel) throw RowError("empty sys_exit: open failed: " + errno_text(errno));
    bpf_program__set_autoload(h->skel->progs.floor_sys_enter, false);  // (not even loaded: a row lists what is)
    if (int err = empty_hooks_bpf::load(h->skel.get()))
        throw RowError("empty sys_exit: load failed: " + errno_text(-err) + " (root? BTF?)");
    h->link.reset(bpf_program__attach(h->skel->progs.floor_sys_exit));
    if (!h->link) throw RowError("empty sys_exit: attach failed: " + errno_text(errno));
    return h;
}

}  // namespace bench
