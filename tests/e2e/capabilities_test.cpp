// Least privilege: which capabilities `tracer run` needs to attach every probe
// (found here by experiment, with setpriv granting exactly a set and nothing
// else, as systemd's AmbientCapabilities/CapabilityBoundingSet and Kubernetes'
// capabilities.add do), and that it gives every one of them up, in every
// thread, once it is running.
#include "agent/privileges.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::Subprocess;

namespace {

const char* kSetpriv = "/usr/bin/setpriv";
// What deploy/ grants: the Kubernetes DaemonSet, the systemd unit, the image test.
const char* kDeployedCaps = "bpf,perfmon,net_admin";

const char* kProbes[] = {"syscalls", "sched", "proc", "net"};

// tracer_probe_up{probe} of every kernel area, once /metrics shows them; -1 when absent.
std::map<std::string, double> probes_up(uint16_t port) {
    std::string page = tracer::fixtures::scrape_metrics_until(port, "tracer_probe_up{probe=\"net\"}", 30s);
    std::map<std::string, double> up;
    for (const char* probe : kProbes)
        up[probe] = tracer::fixtures::metric_value(page, std::string("tracer_probe_up{probe=\"") + probe + "\"}");
    return up;
}

// {"CapEff" -> mask, ...} of every thread of `pid`.
std::vector<std::map<std::string, uint64_t>> thread_capabilities(pid_t pid) {
    std::vector<std::map<std::string, uint64_t>> out;
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream in(t.path() / "status");
        std::map<std::string, uint64_t> caps;
        for (std::string line; std::getline(in, line);)
            if (line.rfind("Cap", 0) == 0) caps[line.substr(0, 6)] = std::stoull(line.substr(7), nullptr, 16);
        if (!caps.empty()) out.push_back(caps);
    }
    return out;
}

class Capabilities : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        config_ = "/tmp/tracer-caps-test-" + std::to_string(getpid()) + ".yaml";
        // The DogStatsD server on a port and socket of the test's own: its threads are dropped too.
        std::ofstream(config_) << "statsd:\n  listen: \"127.0.0.1:" << tracer::fixtures::free_tcp_port() << "\"\n"
                               << "  socket: \"/tmp/tracer-caps-test-" << getpid() << ".sock\"\n";
    }
    void TearDown() override {
        if (!config_.empty()) unlink(config_.c_str());
    }

    // `tracer run` with exactly `caps` (setpriv syntax, "" = none) in every
    // capability set, no_new_privs and root without root's implicit capabilities.
    std::unique_ptr<Subprocess> run_with(const std::string& caps, uint16_t port) {
        std::string list = "-all";
        if (!caps.empty()) {
            std::string rest = caps;
            for (size_t comma; !rest.empty(); rest = comma == std::string::npos ? "" : rest.substr(comma + 1)) {
                comma = rest.find(',');
                list += ",+" + rest.substr(0, comma);
            }
        }
        return std::make_unique<Subprocess>(std::vector<std::string>{
            kSetpriv, "--inh-caps=" + list, "--ambient-caps=" + list, "--bounding-set=" + list, "--no-new-privs",
            "--securebits=+noroot,+noroot_locked", TRACER_BINARY, "run", "--config", config_, "--interval", "1",
            "--metrics-addr", "127.0.0.1:" + std::to_string(port)});
    }
    static void stop(Subprocess& p) {
        p.signal(SIGTERM);
        p.wait_for(20s);
    }

    std::string config_;
};

TEST_F(Capabilities, DeployedSetAttachesEveryProbe) {
    if (access(kSetpriv, X_OK) != 0) GTEST_SKIP() << "no setpriv (util-linux)";
    uint16_t port = tracer::fixtures::free_tcp_port();
    auto p = run_with(kDeployedCaps, port);
    ASSERT_TRUE(tracer::fixtures::wait_output(*p, "serving metrics", 60s)) << p->output();
    for (const auto& [probe, up] : probes_up(port)) EXPECT_EQ(up, 1) << probe << ":\n" << p->output();
    // Named per cgroup, counted after the drop: the agent works without capabilities.
    EXPECT_FALSE(tracer::fixtures::scrape_metrics_until(port, "tracer_syscalls_total{", 20s).empty()) << p->output();
    stop(*p);
}

// Each capability of the set is needed: without it a probe, or everything, is missing.
TEST_F(Capabilities, EachDeployedCapabilityIsNeeded) {
    if (access(kSetpriv, X_OK) != 0) GTEST_SKIP() << "no setpriv (util-linux)";
    {  // no CAP_NET_ADMIN: cgroup_skb cannot attach to the cgroup2 root; the rest works
        uint16_t port = tracer::fixtures::free_tcp_port();
        auto p = run_with("bpf,perfmon", port);
        ASSERT_TRUE(tracer::fixtures::wait_output(*p, "serving metrics", 60s)) << p->output();
        auto up = probes_up(port);
        EXPECT_EQ(up["net"], 0) << p->output();
        EXPECT_EQ(up["syscalls"], 1) << p->output();
        EXPECT_EQ(up["sched"], 1) << p->output();
        EXPECT_EQ(up["proc"], 1) << p->output();
        EXPECT_NE(p->output().find("net probe not loaded"), std::string::npos) << p->output();
        stop(*p);
    }
    for (const char* caps : {"bpf,net_admin", "perfmon,net_admin"}) {  // no CAP_PERFMON / no CAP_BPF
        uint16_t port = tracer::fixtures::free_tcp_port();
        auto p = run_with(caps, port);
        // Degraded: it serves /metrics, without any kernel area.
        ASSERT_TRUE(tracer::fixtures::wait_output(*p, "serving metrics", 60s)) << caps << ": " << p->output();
        for (const auto& [probe, up] : probes_up(port)) EXPECT_EQ(up, 0) << caps << ", " << probe << ":\n" << p->output();
        EXPECT_EQ(p->output().find("probe attached"), std::string::npos) << caps << ": " << p->output();
        stop(*p);
    }
}

// After start-up the agent holds no capability in any thread, and says so.
TEST_F(Capabilities, RunningAgentKeepsNone) {
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess p({TRACER_BINARY, "run", "--config", config_, "--interval", "1", "--metrics-addr",
                  "127.0.0.1:" + std::to_string(port)});
    ASSERT_TRUE(tracer::fixtures::wait_output(p, "capabilities: start-up done", 60s)) << p.output();
    std::string out = p.output();
    EXPECT_NE(out.find("kept none; dropped cap_chown"), std::string::npos) << out;  // root had all
    EXPECT_NE(out.find("cap_bpf"), std::string::npos) << out;
    auto threads = thread_capabilities(p.pid());
    ASSERT_GT(threads.size(), 3u) << "the agent runs several threads (statsd, /metrics, events)";
    for (const auto& caps : threads)
        for (const char* set : {"CapEff", "CapPrm", "CapInh", "CapAmb"}) {
            ASSERT_TRUE(caps.count(set)) << set;
            EXPECT_EQ(caps.at(set), 0u) << set << " of a thread of tracer run";
        }
    // CAP_SETPCAP was there: the bounding set is emptied too.
    EXPECT_EQ(threads[0].at("CapBnd"), 0u);
    // And it still collects: the syscall counters go on after the drop.
    EXPECT_FALSE(tracer::fixtures::scrape_metrics_until(port, "tracer_syscalls_total{", 20s).empty()) << p.output();
    stop(p);
    EXPECT_NE(p.output().find("detaching and exiting"), std::string::npos) << p.output();
}

// The library function on threads of its own, keeping one capability.
TEST_F(Capabilities, DropReachesEveryThreadAndKeepsWhatIsAsked) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i)
            threads.emplace_back([&stop] {  // sleeping in a syscall, as the agent's threads do
                while (!stop) std::this_thread::sleep_for(50ms);
            });
        auto d = tracer::agent::drop_capabilities({CAP_NET_ADMIN});
        int bad = d.error.empty() ? 0 : 1;
        if (d.kept != std::vector<std::string>{"cap_net_admin"}) bad |= 2;
        for (const auto& caps : thread_capabilities(getpid()))
            if (caps.at("CapEff") != (1ull << CAP_NET_ADMIN) || caps.at("CapPrm") != (1ull << CAP_NET_ADMIN) ||
                caps.at("CapBnd") != (1ull << CAP_NET_ADMIN))
                bad |= 4;
        stop = true;
        for (auto& t : threads) t.join();
        _exit(bad);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: error reported, 2: kept set wrong, 4: a thread kept more";
}

TEST(CapabilityNames, KnownAndUnknown) {
    EXPECT_EQ(tracer::agent::capability_name(CAP_BPF), "cap_bpf");
    EXPECT_EQ(tracer::agent::capability_name(CAP_PERFMON), "cap_perfmon");
    EXPECT_EQ(tracer::agent::capability_name(CAP_NET_ADMIN), "cap_net_admin");
    EXPECT_EQ(tracer::agent::capability_name(63), "cap_63");
}

}  // namespace
