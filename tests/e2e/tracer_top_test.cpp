// `tracer status` and `tracer top --batch` as a user runs them: the real
// binary against a real `tracer run` (its local API), a workload in a cgroup
// of the test's own, standalone mode (probes in-process), no privileges.
#include "containers/cgroup_layout.h"
#include "fixtures.h"
#include "tracer_agent.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
using tracer::fixtures::ApiAgent;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;

namespace {

// A child in its own cgroup making syscalls until the test ends.
struct BusyCgroup {
    TestCgroup cgroup;
    HeldChild child;
    std::string path;  // relative to the hierarchy tracer keys on
    explicit BusyCgroup(const std::string& name)
        : cgroup(name), child([] {
              for (;;) {
                  for (int i = 0; i < 2000; ++i) (void)getppid();
                  usleep(1000);
              }
          }) {
        cgroup.add(child.pid());
        path = cgroup.path(*tracer::fixtures::auto_keying_mount());
        child.release();
    }
    ~BusyCgroup() {
        kill(child.pid(), SIGKILL);
        child.wait();
    }
};

std::vector<json> json_lines(const std::string& out) {
    std::vector<json> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty() && line.front() == '{') lines.push_back(json::parse(line));
    return lines;
}

const json* row_of(const json& refresh, const std::string& cgroup) {
    for (const auto& r : refresh["rows"])
        if (r["key"] == cgroup) return &r;
    return nullptr;
}

int run(std::vector<std::string> argv, std::string& output, std::chrono::seconds timeout = 60s,
        uid_t as = static_cast<uid_t>(-1)) {
    Subprocess p(std::move(argv), as);
    int rc = p.wait_for(timeout);
    output = p.output();
    return rc;
}

}  // namespace

TEST(TracerStatus, WithoutAnAgentExits2) {
    std::string out;
    EXPECT_EQ(run({TRACER_BINARY, "status", "--socket", "/tmp/tracer-no-such-dir/api.sock"}, out), 2) << out;
    EXPECT_NE(out.find("no tracer agent answers at /tmp/tracer-no-such-dir/api.sock"), std::string::npos) << out;
}

TEST(TracerStatus, ReportsARunningAgent) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\n");
    struct stat st{};
    ASSERT_EQ(stat(agent.socket().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    std::string out;
    ASSERT_EQ(run({TRACER_BINARY, "status", "--socket", agent.socket(), "--format", "json"}, out), 0) << out;
    json s = json::parse(out);
    EXPECT_EQ(s["status"], "healthy");
    EXPECT_EQ(s["healthy"], true);
    EXPECT_FALSE(s["version"].get<std::string>().empty());
    EXPECT_GT(s["uptime_seconds"].get<double>(), 0);
    EXPECT_FALSE(s["kernel"]["release"].get<std::string>().empty());
    EXPECT_FALSE(s["kernel"]["features"].empty());
    for (const char* probe : {"syscalls", "sched", "proc", "net"}) {
        EXPECT_FALSE(s["probes"][probe]["attached"].empty()) << probe << ": " << s["probes"].dump();
        EXPECT_FALSE(s["probes"][probe]["build"].get<std::string>().empty()) << probe;
    }
    bool kernel_source = false;
    for (const auto& src : s["sources"]) {
        EXPECT_TRUE(src["up"].get<bool>()) << src.dump();
        kernel_source = kernel_source || src["source"] == "kernel";
    }
    EXPECT_TRUE(kernel_source);
    EXPECT_TRUE(s["counters"]["map_update_failures"].contains("syscall_stats")) << s["counters"].dump();
    EXPECT_TRUE(s["counters"]["events_dropped"].contains("proc_events")) << s["counters"].dump();
    EXPECT_TRUE(s["counters"]["runs_skipped"].contains("tracer_sys_exit")) << s["counters"].dump();

    ASSERT_EQ(run({TRACER_BINARY, "status", "--socket", agent.socket()}, out), 0) << out;
    EXPECT_NE(out.find("status: healthy"), std::string::npos) << out;
    EXPECT_NE(out.find("syscalls"), std::string::npos) << out;
    // "none (18 programs)", or the programs the kernel skipped runs of
    auto skipped_at = out.find("BPF runs skipped:    ");
    ASSERT_NE(skipped_at, std::string::npos) << out;
    std::string skipped = out.substr(skipped_at + 21, 7);
    EXPECT_TRUE(skipped.rfind("none (", 0) == 0 || skipped == "tracer_") << out;
}

// The syscalls source says what the latency hook does now: held attached on a
// host below syscalls.latency_quiet_rate (every host, at a billion a second),
// attached only in windows with the quiet rate off.
TEST(TracerStatus, SaysWhetherTheLatencyHookIsHeldOrInWindows) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    auto syscalls_detail = [](const ApiAgent& agent) {
        const json status = agent.get("/v1/status");
        for (const auto& src : status["sources"])
            if (src["source"] == "kernel" && src["name"] == "syscalls") return src["detail"].get<std::string>();
        return std::string("(no kernel/syscalls source)");
    };
    {
        ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\nsyscalls:\n  latency_quiet_rate: 1000000000\n");
        // held from the end of the first window, 200 ms after the attach
        std::string detail;
        for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
            detail = syscalls_detail(agent);
            if (detail.find("held attached") != std::string::npos) break;
            std::this_thread::sleep_for(100ms);
        }
        EXPECT_NE(detail.find("; latency hook held attached: host quiet ("), std::string::npos) << detail;
        EXPECT_NE(detail.find(" syscalls/s, below 1000000000); windows since start: 1 opened, "), std::string::npos) << detail;
        std::string out;
        ASSERT_EQ(run({TRACER_BINARY, "status", "--socket", agent.socket()}, out), 0) << out;
        EXPECT_NE(out.find("latency hook held attached"), std::string::npos) << out;
    }
    {
        ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\nsyscalls:\n  latency_quiet_rate: 0\n");
        std::this_thread::sleep_for(2500ms);  // past the second window's opening
        const std::string detail = syscalls_detail(agent);
        EXPECT_NE(detail.find("; latency windows of 200 ms every 2000 ms; "), std::string::npos) << detail;
        EXPECT_EQ(detail.find("held attached"), std::string::npos) << detail;
        EXPECT_NE(detail.find(" held open"), std::string::npos) << detail;
        EXPECT_EQ(detail.find(": 1 opened,"), std::string::npos) << "a second window should have opened: " << detail;
        // the agent's own reads and waits are among the timed calls of its windows
        const std::string timed = "; calls timed since start: ";
        const auto at = detail.find(timed);
        ASSERT_NE(at, std::string::npos) << detail;
        EXPECT_GT(std::stoull(detail.substr(at + timed.size())), 0u) << detail;
    }
}

TEST(TracerStatus, DegradedWhenASourceIsDownExits1) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    // DogStatsD on a UDP port that is taken: the agent runs on, its statsd part is down.
    tracer::fixtures::BusyUdpPort busy;
    std::string dir = tracer::fixtures::make_temp_dir("tracer-status-degraded");
    std::string config = dir + "/tracer.yaml", socket = dir + "/api.sock";
    std::ofstream(config) << "metrics_addr: \"\"\ndocker_socket: \"\"\napi_socket: \"" << socket << "\"\n"
                          << "statsd:\n  listen: \"127.0.0.1:" << busy.port() << "\"\n  socket: \"\"\n";
    Subprocess second({TRACER_BINARY, "run", "-c", config, "--interval", "1"});
    std::string out;
    int rc = -1;
    for (int i = 0; i < 300 && second.running(); ++i) {
        rc = run({TRACER_BINARY, "status", "--socket", socket, "--format", "json"}, out);
        if (rc != 2) break;
        std::this_thread::sleep_for(100ms);
    }
    second.signal(SIGTERM);
    second.wait_for(15s);
    std::filesystem::remove_all(dir);
    ASSERT_EQ(rc, 1) << out << "\n" << second.output();
    json s = json::parse(out);
    EXPECT_EQ(s["status"], "degraded");
    bool statsd_down = false;
    for (const auto& src : s["sources"]) statsd_down = statsd_down || (src["source"] == "statsd" && !src["up"].get<bool>());
    EXPECT_TRUE(statsd_down) << s["sources"].dump();
}

TEST(TracerStatus, ASinkWhoseBackendIsDownIsReportedWithItsLastError) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    // A loopback port nobody listens on: every delivery is refused.
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    close(fd);
    const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/api/v1/write";
    ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\nsinks:\n  - type: remote_write\n    name: vm\n    url: " + url + "\n");

    std::string out;
    int rc = -1;
    json sink;
    for (int i = 0; i < 100 && rc != 1; ++i) {  // the first delivery fails an interval after the start
        std::this_thread::sleep_for(200ms);
        rc = run({TRACER_BINARY, "status", "--socket", agent.socket(), "--format", "json"}, out);
    }
    ASSERT_EQ(rc, 1) << out;
    const json status = json::parse(out);
    for (const auto& src : status["sources"])
        if (src["source"] == "sinks" && src["name"] == "vm") sink = src;
    ASSERT_FALSE(sink.is_null()) << out;
    EXPECT_FALSE(sink["up"].get<bool>()) << sink.dump();
    const std::string detail = sink["detail"];
    EXPECT_NE(detail.find(url), std::string::npos) << detail;
    EXPECT_NE(detail.find("queued "), std::string::npos) << detail;
    EXPECT_NE(detail.find("last error"), std::string::npos) << detail;
    EXPECT_NE(detail.find("delivery failed"), std::string::npos) << detail;

    ASSERT_EQ(run({TRACER_BINARY, "status", "--socket", agent.socket()}, out), 1) << out;
    EXPECT_NE(out.find("delivery failed"), std::string::npos) << out;
}

TEST(TracerTop, BatchReadsTheAgentAndShowsACgroupsSyscalls) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    BusyCgroup busy("top-batch");
    ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\n");
    std::string out;
    ASSERT_EQ(run({TRACER_BINARY, "top", "--batch", "--iterations", "2", "--format", "json", "--all", "-d", "1",
                   "--socket", agent.socket()},
                  out),
              0)
        << out;
    auto refreshes = json_lines(out);
    ASSERT_EQ(refreshes.size(), 2u) << out;
    const json& last = refreshes.back();
    EXPECT_EQ(last["mode"], "agent");
    EXPECT_GE(last["probes_attached"].get<int>(), 3);
    const json* row = row_of(last, busy.path);
    ASSERT_NE(row, nullptr) << "no row for " << busy.path << " in " << last.dump().substr(0, 2000);
    EXPECT_GT((*row)["syscalls_per_s"].get<double>(), 100) << row->dump();
    EXPECT_EQ((*row)["pids"], 1) << row->dump();
    EXPECT_EQ((*row)["top_syscall"].is_string(), true);

    // The text form: a header naming the agent, the column titles, the cgroup's row.
    ASSERT_EQ(run({TRACER_BINARY, "top", "--batch", "--all", "-d", "1", "--socket", agent.socket()}, out), 0) << out;
    EXPECT_NE(out.find("tracer top - "), std::string::npos) << out;
    EXPECT_NE(out.find("agent " + agent.socket()), std::string::npos) << out;
    EXPECT_NE(out.find("SYSC/s"), std::string::npos) << out;
    EXPECT_NE(out.find(busy.path.substr(0, 31)), std::string::npos) << out;
}

// A cgroup whose CFS quota holds a busy loop to a tenth of a CPU: its row
// gives the limit and that the quota ran out in (nearly) every period, and its
// memory limit; an unlimited busy cgroup has none of them.
TEST(TracerTop, ALimitedCgroupShowsItsLimitsAndHowOftenItIsThrottled) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    TestCgroup limited("top-throttled");
    if (!tracer::fixtures::limit_cpu(limited, 10000, 100000)) GTEST_SKIP() << "no cpu controller for the test cgroup";
    const bool memory_limited = tracer::fixtures::limit_memory(limited, 256ull << 20) != nullptr;
    HeldChild burner([] {
        for (;;) asm volatile("" ::: "memory");  // (a loop the compiler keeps)
    });
    limited.add(burner.pid());
    burner.release();
    const std::string path = limited.path(*tracer::fixtures::auto_keying_mount());
    BusyCgroup unlimited("top-unthrottled");
    ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\n");
    std::string out;
    const int rc = run({TRACER_BINARY, "top", "--batch", "--iterations", "3", "--format", "json", "--all", "-d", "1",
                        "--socket", agent.socket()},
                       out);
    kill(burner.pid(), SIGKILL);
    burner.wait();
    ASSERT_EQ(rc, 0) << out;
    auto refreshes = json_lines(out);
    ASSERT_EQ(refreshes.size(), 3u) << out;
    const json& last = refreshes.back();
    const json* row = row_of(last, path);
    ASSERT_NE(row, nullptr) << "no row for " << path << " in " << last.dump().substr(0, 2000);
    EXPECT_DOUBLE_EQ((*row)["cpu_limit_cores"].get<double>(), 0.1) << row->dump();
    ASSERT_TRUE((*row)["throttled_percent"].is_number()) << row->dump();
    EXPECT_GE((*row)["throttled_percent"].get<double>(), 80) << row->dump();
    EXPECT_GT((*row)["throttled_seconds_per_s"].get<double>(), 0.5) << row->dump();  // ~0.9: held back 90 ms of 100
    EXPECT_LE((*row)["cpu_percent"].get<double>(), 15) << row->dump();
    if (memory_limited && (*row)["memory_bytes"].is_number()) {  // (when the keyed hierarchy has memory files)
        EXPECT_EQ((*row)["memory_limit_bytes"], double(256ull << 20)) << row->dump();
    }
    // Its tasks wait for the next quota runnable: a CPU stall in its cgroup2
    // node most of the time (PSI, where the kernel keeps it and cgroup2 is mounted).
    if (access("/proc/pressure/cpu", R_OK) == 0 && tracer::fixtures::host_layout().unified()) {
        ASSERT_TRUE((*row)["pressure"].is_object()) << row->dump();
        EXPECT_GE((*row)["pressure"]["cpu_some_percent"].get<double>(), 50) << row->dump();
    }
    const json* free_row = row_of(last, unlimited.path);
    ASSERT_NE(free_row, nullptr) << last.dump().substr(0, 2000);
    EXPECT_TRUE((*free_row)["cpu_limit_cores"].is_null()) << free_row->dump();
    EXPECT_TRUE((*free_row)["throttled_percent"].is_null()) << free_row->dump();
    EXPECT_TRUE((*free_row)["memory_limit_bytes"].is_null()) << free_row->dump();

    // The text form has the column.
    ASSERT_EQ(run({TRACER_BINARY, "top", "--batch", "--all", "-d", "1", "--socket", agent.socket()}, out), 0) << out;
    EXPECT_NE(out.find("THR%"), std::string::npos) << out;
}

TEST(LocalApi, KernelEventsOfACgroupReachV1Events) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ApiAgent agent(TRACER_BINARY, "docker_socket: \"\"\n");  // the fixture asks for exec and exit events
    TestCgroup cgroup("api-events");
    // A cgroup made after the agent started: its name comes from the kernel's mkdir record.
    HeldChild child([] {
        execl("/bin/true", "true", static_cast<char*>(nullptr));
        _exit(127);
    });
    cgroup.add(child.pid());
    const std::string path = cgroup.path(*tracer::fixtures::auto_keying_mount());
    child.release();
    ASSERT_EQ(child.wait(), 0);

    bool exec_seen = false, exit_seen = false;
    json page;
    for (int i = 0; i < 300 && !(exec_seen && exit_seen); ++i) {
        std::this_thread::sleep_for(100ms);
        page = agent.get("/v1/events?since=0&limit=100000");
        for (const auto& e : page["events"]) {
            if (e["cgroup"] != path) continue;
            EXPECT_EQ(e["pid"], child.pid()) << e.dump();
            if (e["kind"] == "exec") {
                exec_seen = true;
                EXPECT_EQ(e["filename"], "/bin/true") << e.dump();
            }
            if (e["kind"] == "exit") {
                exit_seen = true;
                EXPECT_EQ(e["exit_code"], 0) << e.dump();
            }
        }
    }
    EXPECT_TRUE(exec_seen) << "no exec of " << path << " in " << page.dump().substr(0, 3000);
    EXPECT_TRUE(exit_seen) << "no exit of " << path << " in " << page.dump().substr(0, 3000);
}

TEST(TracerTop, StandaloneRunsTheProbesInProcess) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    BusyCgroup busy("top-standalone");
    std::string out;
    ASSERT_EQ(run({TRACER_BINARY, "top", "--batch", "--iterations", "1", "--format", "json", "--all", "-d", "1",
                   "--socket", "/tmp/tracer-no-such-dir/api.sock"},
                  out),
              0)
        << out;
    auto refreshes = json_lines(out);
    ASSERT_EQ(refreshes.size(), 1u) << out;
    EXPECT_EQ(refreshes[0]["mode"], "standalone");
    const json* row = row_of(refreshes[0], busy.path);
    ASSERT_NE(row, nullptr) << out.substr(0, 2000);
    EXPECT_GT((*row)["syscalls_per_s"].get<double>(), 100) << row->dump();
}

TEST(TracerTop, WithoutPrivilegesSaysSoInOneLine) {
    if (getuid() != 0) GTEST_SKIP() << "needs root to run the command as nobody";
    std::string out;
    int rc = run({TRACER_BINARY, "top", "--batch", "--socket", "/tmp/tracer-no-such-dir/api.sock"}, out, 30s, 65534);
    EXPECT_NE(rc, 0) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find("cannot run the probes here"), std::string::npos) << out;
}
