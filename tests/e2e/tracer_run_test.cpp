// `tracer run` as a user runs it: the real binary on the built-in defaults,
// a workload in a cgroup of the test's own, /metrics scraped over HTTP, and
// the way it stops (signals) and fails (one clear line, non-zero exit).
#include "containers/cgroup_layout.h"
#include "fixtures.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;

namespace {

std::vector<std::string> tracer_args(std::initializer_list<std::string> extra) {
    std::vector<std::string> a{TRACER_BINARY};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

std::optional<std::string> scrape(uint16_t port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    auto res = c.Get("/metrics");
    if (!res || res->status != 200) return std::nullopt;
    return res->body;
}

// Value of the sample line `name{labels} value` (labels exactly as rendered).
std::optional<double> sample(const std::string& body, const std::string& series) {
    auto pos = body.find("\n" + series + " ");
    if (pos == std::string::npos) return std::nullopt;
    return std::stod(body.substr(pos + series.size() + 2));
}

std::string wait_for_metrics(Subprocess& p, uint16_t port, const std::string& needle,
                             std::chrono::seconds timeout = 20s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end && p.running()) {
        if (auto body = scrape(port); body && body->find(needle) != std::string::npos) return *body;
        std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "no '" << needle << "' on /metrics; tracer said:\n" << p.output();
    return "";
}

// Names of the BPF programs loaded right now (15-char kernel names).
std::vector<std::string> loaded_programs() {
    std::vector<std::string> names;
    __u32 id = 0;
    while (bpf_prog_get_next_id(id, &id) == 0) {
        int fd = bpf_prog_get_fd_by_id(id);
        if (fd < 0) continue;
        bpf_prog_info info{};
        __u32 len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) names.emplace_back(info.name);
        close(fd);
    }
    return names;
}

bool tracer_programs_loaded() {
    for (const auto& n : loaded_programs())
        if (n.rfind("tracer_", 0) == 0) return true;
    return false;
}

// The kernel frees a detached raw-tracepoint program after an RCU grace
// period, so "gone" is checked with a bounded wait.
bool tracer_programs_gone_within(std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (tracer_programs_loaded()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// Where the agent names workloads on the built-in defaults: the hierarchy `auto` picks.
const tracer::containers::CgroupMount* auto_keyed_mount() {
    auto keying = tracer::containers::choose_cgroup_keying(tracer::fixtures::host_layout(), "auto", "/proc/cgroups");
    return keying.mode == 0 ? tracer::fixtures::host_layout().unified()
                            : tracer::fixtures::host_layout().v1_controller(keying.hierarchy);
}

// A cgroup of the hierarchy the agent keys on, whose child has done its work.
struct WorkedCgroup {
    std::unique_ptr<TestCgroup> cg;
    std::string labels;  // {cgroup="<path>",syscall="
    std::string syscalls(const char* syscall) const { return "tracer_syscalls_total" + labels + syscall + "\"}"; }
};

// Runs `work` in a child inside a new cgroup `name` and waits for it (throws
// when it cannot: the test fails with the reason).
WorkedCgroup run_in_new_cgroup(const std::string& name, std::function<void()> work) {
    const auto* mount = auto_keyed_mount();
    if (!mount) throw std::runtime_error("no cgroup hierarchy for the agent to key on");
    WorkedCgroup w{std::make_unique<TestCgroup>(name), ""};
    HeldChild child(std::move(work));
    w.cg->add(child.pid());
    child.release();
    if (child.wait() != 0) throw std::runtime_error("the child in cgroup " + name + " failed");
    w.labels = "{cgroup=\"" + w.cg->path(*mount) + "\",syscall=\"";
    return w;
}

class TracerRun : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        ASSERT_TRUE(tracer_programs_gone_within(3s)) << "another tracer is running; these tests need the host to themselves";
    }
};

}  // namespace

TEST_F(TracerRun, ServesPerCgroupSyscallMetricsOnTheBuiltInDefaults) {
    if (access("/etc/tracer/tracer.yaml", F_OK) == 0) GTEST_SKIP() << "/etc/tracer/tracer.yaml exists; this test needs the built-in defaults";
    uint16_t port = tracer::fixtures::free_tcp_port();
    // The defaults but for the latency windows: the entry hook stays attached so
    // that every sleep below is timed (the histogram is checked call by call).
    Subprocess tracer({"/usr/bin/env", "TRACER_SYSCALLS_LATENCY_WINDOW_MS=1000", "TRACER_SYSCALLS_LATENCY_PERIOD_MS=1000",
                       TRACER_BINARY, "run", "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port)});
    wait_for_metrics(tracer, port, "tracer_build_info{version=\"");

    auto worked = run_in_new_cgroup("e2e", [] {
        for (int i = 0; i < 20000; ++i) syscall(SYS_getppid);
        timespec ts{0, 2000000};
        for (int i = 0; i < 20; ++i) syscall(SYS_nanosleep, &ts, nullptr);
    });
    const std::string& labels = worked.labels;
    std::string body = wait_for_metrics(tracer, port, "tracer_syscalls_total" + labels + "getppid\"}");
    auto calls = sample(body, "tracer_syscalls_total" + labels + "getppid\"}");
    ASSERT_TRUE(calls.has_value());
    EXPECT_GE(*calls, 20000);
    EXPECT_LE(*calls, 20005);
    EXPECT_EQ(sample(body, "tracer_syscall_errors_total" + labels + "getppid\"}").value_or(-1), 0);
    // nanosleep is on the default histogram allowlist: 20 sleeps of 2 ms
    EXPECT_EQ(sample(body, "tracer_syscall_duration_seconds_count" + labels + "nanosleep\"}").value_or(-1), 20);
    EXPECT_EQ(sample(body, "tracer_syscall_duration_seconds_bucket" + labels + "nanosleep\",le=\"+Inf\"}").value_or(-1), 20);
    EXPECT_EQ(sample(body, "tracer_syscall_duration_seconds_bucket" + labels + "nanosleep\",le=\"0.000262144\"}").value_or(-1), 0);
    double sum = sample(body, "tracer_syscall_duration_seconds_sum" + labels + "nanosleep\"}").value_or(-1);
    EXPECT_GE(sum, 0.040);
    EXPECT_LT(sum, 0.200);
    EXPECT_NE(body.find("# TYPE tracer_syscall_duration_seconds histogram"), std::string::npos);
    EXPECT_NE(body.find("# TYPE tracer_syscalls_total counter"), std::string::npos);
    EXPECT_NE(body.find("tracer_cgroups_tracked "), std::string::npos);
    EXPECT_NE(body.find("tracer_bpf_map_update_failures_total{map=\"syscall_stats\"} 0"), std::string::npos);
    // Runs the kernel skipped, per program of every area (0 here: a run is
    // skipped only when a program is preempted inside it).
    EXPECT_NE(body.find("# TYPE tracer_bpf_runs_skipped_total counter"), std::string::npos);
    for (const char* prog : {"tracer_sys_enter", "tracer_sys_exit", "tracer_sched_switch", "tracer_net_egress"})
        EXPECT_TRUE(sample(body, std::string("tracer_bpf_runs_skipped_total{program=\"") + prog + "\"}").has_value())
            << prog;

    // Counters are monotonic across intervals (the cgroup is idle now).
    std::this_thread::sleep_for(2500ms);
    auto later = scrape(port);
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(sample(*later, "tracer_syscalls_total" + labels + "getppid\"}").value_or(-1), *calls);

    EXPECT_NE(tracer.output().find("top cgroups by syscalls/s: "), std::string::npos) << tracer.output();

    auto t0 = std::chrono::steady_clock::now();
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "SIGTERM must end tracer within 2 s";
    EXPECT_TRUE(tracer_programs_gone_within(1s)) << "every program is detached and unloaded on exit";
}

TEST_F(TracerRun, TheBaselineBuildCountsPerCgroupToo) {
    // probe_build: baseline runs the Linux 5.8 build here, as kernels without
    // task storage do: the agent's whole path (keying, reads, capabilities
    // dropped after start-up) on that build, without booting an old kernel.
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer({"/usr/bin/env", "TRACER_PROBE_BUILD=baseline", TRACER_BINARY, "run", "--interval", "1",
                       "--metrics-addr", "127.0.0.1:" + std::to_string(port)});
    wait_for_metrics(tracer, port, "tracer_build_info{version=\"");
    auto worked = run_in_new_cgroup("e2e-baseline", [] {
        for (int i = 0; i < 5000; ++i) syscall(SYS_getppid);
    });
    const std::string series = worked.syscalls("getppid");
    std::string body = wait_for_metrics(tracer, port, series);
    auto calls = sample(body, series);
    ASSERT_TRUE(calls.has_value()) << body.substr(0, 3000);
    EXPECT_GE(*calls, 5000);
    EXPECT_LE(*calls, 5005);
    EXPECT_EQ(sample(body, "tracer_probe_up{probe=\"syscalls\"}").value_or(-1), 1);
    EXPECT_EQ(sample(body, "tracer_probe_up{probe=\"net\"}").value_or(-1), 0) << "the network area has no 5.8 build";
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
    EXPECT_NE(tracer.output().find("syscalls probe attached (raw_tp/sys_enter"), std::string::npos) << tracer.output();
}

// On the built-in defaults only OOM kills cross the process-event ring, and
// the agent's event thread sleeps until one wakes it (no drain timer): the
// kill of a child touching 64 MiB in a 32 MiB cgroup is logged while the
// agent runs, naming the victim.
TEST_F(TracerRun, AnOomKillWakesTheAgentOnTheDefaults) {
    TestCgroup cg("e2e-oom");
    if (!tracer::fixtures::limit_memory(cg, 32u << 20))
        GTEST_SKIP() << "the test cgroup has no memory controller (v1 memory or cgroup2 memory.max)";
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer(tracer_args({"run", "--metrics-addr", "127.0.0.1:" + std::to_string(port)}));
    // attached: the agent serves /metrics only after loading every probe
    // (its first interval's figures come 10 s later)
    auto ready_by = std::chrono::steady_clock::now() + 20s;
    while (tracer.output().find("serving metrics on") == std::string::npos && tracer.running() &&
           std::chrono::steady_clock::now() < ready_by)
        std::this_thread::sleep_for(50ms);
    ASSERT_NE(tracer.output().find("proc probe attached"), std::string::npos) << tracer.output();
    HeldChild child([] { tracer::fixtures::touch_memory_and_exit(64u << 20); });  // 64 MiB in 32
    cg.add(child.pid());
    const pid_t victim = child.pid();
    child.release();
    ASSERT_EQ(child.wait(), -1) << "the child was not killed: it exited";
    const std::string line = "OOM kill: pid " + std::to_string(victim) + " ";
    auto end = std::chrono::steady_clock::now() + 5s;  // the interval is 10 s: the log must not wait for it
    while (tracer.output().find(line) == std::string::npos && std::chrono::steady_clock::now() < end && tracer.running())
        std::this_thread::sleep_for(50ms);
    EXPECT_NE(tracer.output().find(line), std::string::npos) << "no '" << line << "'; tracer said:\n" << tracer.output();
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
}

TEST_F(TracerRun, SigintDetachesAndExitsZero) {
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer(tracer_args({"run", "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port)}));
    wait_for_metrics(tracer, port, "tracer_build_info");
    ASSERT_TRUE(tracer_programs_loaded());
    auto t0 = std::chrono::steady_clock::now();
    tracer.signal(SIGINT);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_TRUE(tracer_programs_gone_within(1s));
}

TEST_F(TracerRun, PortInUseIsOneClearError) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

    Subprocess tracer(tracer_args({"run", "--metrics-addr", addr}));
    EXPECT_EQ(tracer.wait_for(15s), 1);
    std::string out = tracer.output();
    EXPECT_NE(out.find("address already in use"), std::string::npos) << out;
    EXPECT_NE(out.find(addr), std::string::npos) << out;
    EXPECT_TRUE(tracer_programs_gone_within(1s));
    close(fd);
}

class TempConfig {
public:
    explicit TempConfig(const std::string& yaml) {
        char tmpl[] = "/tmp/tracer-e2e-XXXXXX.yaml";
        int fd = mkstemps(tmpl, 5);
        close(fd);
        path_ = tmpl;
        std::ofstream(path_) << yaml;
    }
    ~TempConfig() { unlink(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TEST(TracerRunErrors, BadYamlNamesFileAndLine) {
    TempConfig cfg("interval: 5\nsyscalls:\n  latency: [unclosed\n");
    Subprocess tracer(tracer_args({"run", "--config", cfg.path()}));
    EXPECT_EQ(tracer.wait_for(10s), 2);
    std::string out = tracer.output();
    EXPECT_NE(out.find(cfg.path() + ":"), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
}

TEST(TracerRunErrors, UnknownKeyNamesFileLineAndSuggestion) {
    TempConfig cfg("interval: 5\nmetrics_adr: 127.0.0.1:1\n");
    Subprocess tracer(tracer_args({"run", "--config", cfg.path()}));
    EXPECT_EQ(tracer.wait_for(10s), 2);
    std::string out = tracer.output();
    EXPECT_NE(out.find(cfg.path() + ":2:"), std::string::npos) << out;
    EXPECT_NE(out.find("metrics_adr"), std::string::npos) << out;
    EXPECT_NE(out.find("metrics_addr"), std::string::npos) << out;
}

TEST(TracerRunErrors, MissingExplicitConfigIsAnError) {
    Subprocess tracer(tracer_args({"run", "--config", "/nonexistent/tracer.yaml"}));
    EXPECT_EQ(tracer.wait_for(10s), 2);
    EXPECT_NE(tracer.output().find("/nonexistent/tracer.yaml"), std::string::npos) << tracer.output();
}

// Degraded mode: without BPF permission the agent says once, loudly, what is
// missing and keeps serving /metrics (and DogStatsD, plugins, forwarding),
// with every kernel area reported down.
TEST(TracerRunDegraded, WithoutPrivilegesKeepsServingAndSaysWhatIsNeeded) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer(tracer_args({"run", "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port)}),
                      /*run_as=*/65534);
    std::string body = wait_for_metrics(tracer, port, "tracer_probe_up{probe=\"net\"}");
    for (const char* area : {"syscalls", "sched", "proc", "net"})
        EXPECT_EQ(sample(body, std::string("tracer_probe_up{probe=\"") + area + "\"}"), 0.0) << area << "\n" << body;
    EXPECT_EQ(body.find("tracer_syscalls_total"), std::string::npos) << body;
    std::string out = tracer.output();
    EXPECT_NE(out.find("NO KERNEL METRICS"), std::string::npos) << out;
    EXPECT_NE(out.find("not permitted to load BPF programs"), std::string::npos) << out;
    EXPECT_NE(out.find("CAP_BPF"), std::string::npos) << out;
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(10s), 0) << tracer.output();
}

TEST(TracerRunDegraded, MissingBtfFileIsNamedAndTheAgentRunsOn) {
    if (geteuid() != 0) GTEST_SKIP() << "the privilege check comes first without root";
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer(tracer_args({"run", "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port),
                                   "--btf", "/nonexistent/vmlinux.btf"}));
    std::string body = wait_for_metrics(tracer, port, "tracer_probe_up{probe=\"syscalls\"} 0");
    EXPECT_NE(tracer.output().find("cannot read BTF file /nonexistent/vmlinux.btf"), std::string::npos)
        << tracer.output();
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(10s), 0) << tracer.output();
}

// Every area can be switched off in config; the others run.
TEST(TracerRunAreas, AnAreaSwitchedOffLoadsNothingAndSaysSo) {
    if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer({"/usr/bin/env", "TRACER_SCHED_ENABLED=false", "TRACER_NET_ENABLED=off", TRACER_BINARY, "run",
                       "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port)});
    std::string body = wait_for_metrics(tracer, port, "tracer_syscalls_total");
    EXPECT_EQ(sample(body, "tracer_probe_up{probe=\"syscalls\"}"), 1.0) << body;
    EXPECT_EQ(sample(body, "tracer_probe_up{probe=\"proc\"}"), 1.0) << body;
    EXPECT_EQ(sample(body, "tracer_probe_up{probe=\"sched\"}"), 0.0) << body;
    EXPECT_EQ(sample(body, "tracer_probe_up{probe=\"net\"}"), 0.0) << body;
    EXPECT_EQ(body.find("tracer_cpu_seconds_total"), std::string::npos) << body;
    EXPECT_NE(tracer.output().find("sched probe off: disabled in config"), std::string::npos) << tracer.output();
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(10s), 0) << tracer.output();
}

TEST(TracerCli, VersionAndHelp) {
    Subprocess version(tracer_args({"version"}));
    EXPECT_EQ(version.wait_for(5s), 0);
    EXPECT_TRUE(std::regex_search(version.output(), std::regex("^tracer [0-9]+\\.[0-9]+\\.[0-9]+\n")))
        << version.output();
    for (const char* sub : {"run", "version"}) {
        Subprocess help(tracer_args({sub, "--help"}));
        EXPECT_EQ(help.wait_for(5s), 0);
        if (std::string(sub) == "run") {
            for (const char* flag : {"--config", "--interval", "--metrics-addr"})
                EXPECT_NE(help.output().find(flag), std::string::npos) << flag;
        }
    }
    Subprocess bad(tracer_args({"frobnicate"}));
    EXPECT_NE(bad.wait_for(5s), 0);
}

// A kernel without BTF in sysfs (hidden under a tmpfs in a private mount
// namespace): one clear error naming the fix, and --btf PATH with a copy of
// the kernel's BTF then runs the 5.8 build and names the workload's cgroup.
TEST_F(TracerRun, WithoutKernelBtfOneErrorThenBtfFileWorks) {
    if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs unshare(1) from util-linux";
    std::string btf = "/tmp/tracer-e2e-" + std::to_string(getpid()) + "-vmlinux.btf";
    {
        std::ifstream in("/sys/kernel/btf/vmlinux", std::ios::binary);
        std::ofstream(btf, std::ios::binary) << in.rdbuf();
    }
    auto without_btf = [](std::vector<std::string> args) {
        std::vector<std::string> a{"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                                   "mount -t tmpfs nobtf /sys/kernel/btf && exec \"$@\"", "sh", TRACER_BINARY};
        a.insert(a.end(), args.begin(), args.end());
        return a;
    };

    // Without BTF: one loud error, and the agent runs on without kernel metrics.
    Subprocess plain(without_btf({"run", "--metrics-addr", ""}));
    auto until = std::chrono::steady_clock::now() + 10s;
    while (plain.output().find("NO KERNEL METRICS") == std::string::npos && plain.running() &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(plain.running()) << plain.output();
    plain.signal(SIGTERM);
    EXPECT_EQ(plain.wait_for(10s), 0) << plain.output();
    std::string out = plain.output();
    EXPECT_NE(out.find("NO KERNEL METRICS: this kernel exposes no BTF"), std::string::npos) << out;
    EXPECT_NE(out.find("CONFIG_DEBUG_INFO_BTF=y"), std::string::npos) << out;
    EXPECT_NE(out.find("--btf PATH"), std::string::npos) << out;
    EXPECT_EQ(out.find("kernel feature:"), std::string::npos) << "one error, not the feature list: " << out;

    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer(without_btf({"run", "--interval", "1", "--btf", btf, "--metrics-addr",
                                   "127.0.0.1:" + std::to_string(port)}));
    wait_for_metrics(tracer, port, "tracer_build_info");
    auto worked = run_in_new_cgroup("nobtf", [] {
        for (int i = 0; i < 1000; ++i) syscall(SYS_getppid);
    });
    const std::string series = worked.syscalls("getppid");
    std::string body = wait_for_metrics(tracer, port, series);
    EXPECT_GE(sample(body, series).value_or(-1), 1000);
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
    out = tracer.output();
    EXPECT_NE(out.find("kernel feature: BTF for CO-RE: " + btf), std::string::npos) << out;
    EXPECT_NE(out.find("kernel feature: probe build: Linux 5.8 baseline"), std::string::npos) << out;
    EXPECT_NE(out.find("syscalls probe attached (raw_tp/sys_enter"), std::string::npos) << out;
    unlink(btf.c_str());
}

TEST(TracerCli, VersionFeaturesNamesThePathTakenPerFeature) {
    if (geteuid() != 0) GTEST_SKIP() << "probing map types needs root or CAP_BPF";
    Subprocess version(tracer_args({"version", "--features"}));
    EXPECT_EQ(version.wait_for(10s), 0) << version.output();
    std::string out = version.output();
    EXPECT_TRUE(std::regex_search(out, std::regex("^tracer [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << out;
    for (const char* line : {"  kernel: Linux ", "  BTF for CO-RE: /sys/kernel/btf/vmlinux\n",
                             "  BTF-typed tracepoints (tp_btf, 5.5+): ", "  task-local storage (5.11+): ",
                             "  ring buffer (5.8+): yes", "  sched_switch arguments after preempt: ",
                             "  task state field: task_struct.", "  probe build: Linux "})
        EXPECT_NE(out.find(line), std::string::npos) << line << " missing in:\n" << out;

    Subprocess bad_btf(tracer_args({"version", "--features", "--btf", "/nonexistent/vmlinux.btf"}));
    EXPECT_EQ(bad_btf.wait_for(10s), 1);
    EXPECT_NE(bad_btf.output().find("cannot read BTF file /nonexistent/vmlinux.btf"), std::string::npos)
        << bad_btf.output();
}
