// Containers named on /metrics, against a real dockerd started by the test
// (tests/support/docker_engine.h): one engine for the whole suite, a fresh
// `tracer run` per test. Skipped with the reason when docker.io is absent.
#include "containerd_runtime.h"
#include "docker_engine.h"
#include "fixtures.h"
#include "podman_service.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::DockerEngine;
using tracer::fixtures::Subprocess;

namespace {

using LabelMap = std::map<std::string, std::string>;

struct Series {
    std::string name;
    LabelMap labels;
    double value = 0;
};

// Sample lines of a /metrics page (our own output: no escapes in these tests' values).
std::vector<Series> parse_page(const std::string& body) {
    std::vector<Series> out;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        Series s;
        size_t brace = line.find('{'), space = line.rfind(' ');
        if (space == std::string::npos) continue;
        s.value = std::stod(line.substr(space + 1));
        if (brace == std::string::npos || brace > space) {
            s.name = line.substr(0, space);
        } else {
            s.name = line.substr(0, brace);
            size_t i = brace + 1;
            while (i < line.size() && line[i] != '}') {
                size_t eq = line.find("=\"", i), end = line.find('"', eq + 2);
                s.labels[line.substr(i, eq - i)] = line.substr(eq + 2, end - eq - 2);
                i = end + 1;
                if (i < line.size() && line[i] == ',') ++i;
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

// The samples of `name` whose labels include every pair of `want`.
std::vector<Series> find(const std::vector<Series>& page, const std::string& name, const LabelMap& want) {
    std::vector<Series> out;
    for (const auto& s : page) {
        if (s.name != name) continue;
        bool all = true;
        for (const auto& [k, v] : want) {
            auto it = s.labels.find(k);
            all &= it != s.labels.end() && it->second == v;
        }
        if (all) out.push_back(s);
    }
    return out;
}

// A `tracer run` under test and its /metrics page, for either runtime's suite.
template <class Base>
class Scraping : public Base {
protected:
    void stop_tracer() {
        if (tracer_) {
            tracer_->signal(SIGTERM);
            tracer_->wait_for(10s);
        }
    }

    std::vector<Series> scrape() {
        httplib::Client c("127.0.0.1", port_);
        c.set_connection_timeout(1, 0);
        auto res = c.Get("/metrics");
        if (!res || res->status != 200) return {};
        return parse_page(res->body);
    }

    // Waits until `name` has a sample with `want` whose value is >= `min`; returns it.
    std::optional<Series> wait_for(const std::string& name, const LabelMap& want, double min = 0,
                                   std::chrono::seconds timeout = 20s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        std::vector<Series> last;
        while (std::chrono::steady_clock::now() < end && tracer_->running()) {
            last = scrape();
            for (const auto& s : find(last, name, want))
                if (s.value >= min) return s;
            std::this_thread::sleep_for(100ms);
        }
        std::string seen;
        for (const auto& s : find(last, "tracer_syscalls_total", {{"syscall", "write"}})) {
            seen += "\n  ";
            for (const auto& [k, v] : s.labels) seen += k + "=" + v + " ";
            seen += std::to_string(s.value);
        }
        ADD_FAILURE() << "no " << name << " sample with the wanted labels >= " << min
                      << "; write samples on /metrics:" << seen << "\ntracer said:\n" << tracer_->output();
        return std::nullopt;
    }

    std::unique_ptr<Subprocess> tracer_;
    uint16_t port_ = 0;
};

class DockerContainers : public Scraping<tracer::fixtures::DockerEngineSuite> {
protected:
    void SetUp() override {
        DockerEngineSuite::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        socket_ = engine_->socket();
    }
    void TearDown() override {
        stop_tracer();
        DockerEngineSuite::TearDown();
        if (!config_.empty()) unlink(config_.c_str());
    }

    // `host_root`: run tracer in a mount namespace of its own where the host's
    // / is bound at `host_root` and its own /sys/fs/cgroup and the engine's
    // directory are empty tmpfs: only --host-root reaches cgroupfs and the socket.
    void start_tracer(double interval = 1, const std::string& host_root = "", const std::string& more_config = "") {
        config_ = "/tmp/tracer-docker-test-" + std::to_string(getpid()) + ".yaml";
        std::ofstream(config_) << "docker_socket: \"" << socket_ << "\"\n"
                               << "container_labels_as_tags:\n  team: team\n"
                               << more_config;
        port_ = tracer::fixtures::free_tcp_port();
        std::vector<std::string> argv{TRACER_BINARY, "run", "-c", config_, "--interval", std::to_string(interval),
                                      "--metrics-addr", "127.0.0.1:" + std::to_string(port_)};
        if (!host_root.empty()) {
            std::string engine_dir = engine_->socket().substr(0, engine_->socket().rfind('/'));
            std::string cmd = "mkdir -p " + host_root + " && mount --rbind / " + host_root +
                              " && mount -t tmpfs none /sys/fs/cgroup && mount -t tmpfs none " + engine_dir +
                              " && exec";
            for (const auto& a : argv) cmd += " '" + a + "'";
            cmd += " --host-root " + host_root;
            argv = {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", cmd};
        }
        tracer_ = std::make_unique<Subprocess>(argv);
        // Up when /metrics answers with the first collection's families.
        wait_for("tracer_build_info", {});
    }

    std::string config_;
    std::string socket_;  // the API socket tracer follows
};

// 5000 one-byte writes, then dd's two summary lines. A container started while
// the agent runs also shows runc init's few writes (sync pipe) in its cgroup.
const std::string kWrites = "dd if=/dev/zero of=/dev/null bs=1 count=5000";

TEST_F(DockerContainers, ContainerStartedBeforeTheAgentIsNamedWithLabelsAndTheRightCount) {
    // Started first (the agent must list it), its workload released once the agent runs.
    std::string id = run_container("tracer-e2e-1", {"--label", "team=core"},
                                   "while [ ! -e /tmp/go ]; do sleep 0.1; done; " + kWrites + "; exec sleep 1000");
    ASSERT_EQ(id.size(), 64u) << id;
    start_tracer();
    engine_->docker({"exec", "tracer-e2e-1", "touch", "/tmp/go"});
    LabelMap want{{"container_name", "tracer-e2e-1"}, {"image", engine_->image()}, {"team", "core"},
                  {"container_id", id.substr(0, 12)}, {"cgroup", "/docker/" + id}, {"syscall", "write"}};
    auto s = wait_for("tracer_syscalls_total", want, 5000);
    ASSERT_TRUE(s);
    std::this_thread::sleep_for(2s);  // nothing more may come
    auto after = find(scrape(), "tracer_syscalls_total", want);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_GE(after[0].value, 5000);
    EXPECT_LE(after[0].value, 5010);  // dd's "records in/out" lines
    // Every per-cgroup family carries the tags, e.g. scheduling and processes.
    EXPECT_TRUE(wait_for("tracer_cpu_seconds_total", {{"container_name", "tracer-e2e-1"}, {"team", "core"}}));
    EXPECT_TRUE(wait_for("tracer_process_execs_total", {{"container_name", "tracer-e2e-1"}}));
}

TEST_F(DockerContainers, ContainerStartedAfterTheAgentIsNamed) {
    start_tracer();
    std::string id = run_container("tracer-e2e-2", {}, kWrites + "; exec sleep 1000");
    auto s = wait_for("tracer_syscalls_total",
                      {{"container_name", "tracer-e2e-2"}, {"image", engine_->image()}, {"syscall", "write"}}, 5000);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->labels.count("team"), 0u) << "no team label, no team tag";
    EXPECT_EQ(s->labels["container_id"], id.substr(0, 12));
}

TEST_F(DockerContainers, ContainerThatLivesOneSecondKeepsItsName) {
    // Intervals longer than its life: its cgroup is created and removed
    // between two scans of cgroupfs (named from the kernel's mkdir record).
    start_tracer(3);
    run_container("tracer-e2e-3", {}, kWrites + "; sleep 1");
    auto s = wait_for("tracer_syscalls_total", {{"container_name", "tracer-e2e-3"}, {"syscall", "write"}}, 5000);
    ASSERT_TRUE(s);
    EXPECT_LE(s->value, 5100);  // with runc's own writes in the new cgroup before it execs sh
    // Nothing of it was counted without its name.
    for (const auto& u : find(scrape(), "tracer_syscalls_total", {{"cgroup", "<unresolved>"}, {"syscall", "write"}}))
        EXPECT_LT(u.value, 5000) << "the short-lived container's writes went to <unresolved>";
}

TEST_F(DockerContainers, AnIdleContainerIsListedOnMetricsAndInTracerTop) {
    // Asleep before the agent starts and never woken: no kernel event of its
    // own, so only the container list can show it.
    std::string id = run_container("tracer-e2e-idle", {"--label", "team=core"}, "exec sleep 100000");
    ASSERT_EQ(id.size(), 64u) << id;
    const std::string api = "/tmp/tracer-docker-api-" + std::to_string(getpid()) + ".sock";
    start_tracer(1, "", "api_socket: \"" + api + "\"\n");
    auto info = wait_for("tracer_container_info",
                         {{"container_name", "tracer-e2e-idle"}, {"image", engine_->image()}, {"team", "core"},
                          {"container_id", id.substr(0, 12)}, {"cgroup", "/docker/" + id}},
                         1);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->value, 1);
    auto page = scrape();
    EXPECT_EQ(find(page, "tracer_container_info", {{"container_id", id.substr(0, 12)}}).size(), 1u);
    EXPECT_TRUE(find(page, "tracer_syscalls_total", {{"container_name", "tracer-e2e-idle"}}).empty())
        << "the container was not idle: this test shows nothing";

    Subprocess top({TRACER_BINARY, "top", "--batch", "--iterations", "1", "--format", "json", "--socket", api});
    ASSERT_EQ(top.wait_for(20s), 0) << top.output();
    std::string out = top.output();
    EXPECT_NE(out.find("\"name\":\"tracer-e2e-idle\""), std::string::npos) << out;

    // Gone with its cgroup.
    engine_->docker({"rm", "-f", "tracer-e2e-idle"});
    auto end = std::chrono::steady_clock::now() + 20s;
    while (!find(scrape(), "tracer_container_info", {{"container_id", id.substr(0, 12)}}).empty() &&
           std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(find(scrape(), "tracer_container_info", {{"container_id", id.substr(0, 12)}}).empty());
}

TEST_F(DockerContainers, RenamedContainerIsReportedUnderItsNewName) {
    start_tracer();
    run_container("tracer-e2e-4", {},
                  "while true; do dd if=/dev/zero of=/dev/null bs=1 count=100 2>/dev/null; sleep 0.2; done");
    ASSERT_TRUE(wait_for("tracer_syscalls_total", {{"container_name", "tracer-e2e-4"}, {"syscall", "write"}}, 100));
    engine_->docker({"rename", "tracer-e2e-4", "tracer-e2e-4-renamed"});
    started_.push_back("tracer-e2e-4-renamed");
    EXPECT_TRUE(
        wait_for("tracer_syscalls_total", {{"container_name", "tracer-e2e-4-renamed"}, {"syscall", "write"}}, 100));
}

TEST_F(DockerContainers, TaggingGoesOnAfterDockerdIsKilledAndRestarted) {
    start_tracer();
    run_container("tracer-e2e-5", {}, kWrites + "; exec sleep 1000");
    ASSERT_TRUE(wait_for("tracer_syscalls_total", {{"container_name", "tracer-e2e-5"}, {"syscall", "write"}}, 5000));
    engine_->crash_and_restart();
    ASSERT_TRUE(tracer_->running()) << tracer_->output();
    run_container("tracer-e2e-6", {"--label", "team=core"}, kWrites + "; exec sleep 1000");
    EXPECT_TRUE(wait_for("tracer_syscalls_total",
                         {{"container_name", "tracer-e2e-6"}, {"team", "core"}, {"syscall", "write"}}, 5000));
}

TEST_F(DockerContainers, StatsdSenderInAContainerGetsItsTagsOverTheUnixSocketAndByItsCField) {
    // The DogStatsD server names a Unix-socket sender by its pid's cgroup:
    // the same tags as the container's kernel metrics.
    const std::string sock = "/tmp/tracer-dsd-" + std::to_string(getpid()) + ".sock";
    const uint16_t udp_port = tracer::fixtures::free_tcp_port();  // the same number is free for UDP here
    start_tracer(1, "",
                 "statsd:\n  listen: \"127.0.0.1:" + std::to_string(udp_port) + "\"\n  socket: \"" + sock + "\"\n");
    std::string id = run_container("tracer-e2e-dsd", {"--label", "team=core"}, "exec sleep 1000");
    ASSERT_EQ(id.size(), 64u) << id;
    // A sender process that joins the container's cgroups (as `docker exec`
    // would put it there), then sends 100 increments and waits to be read.
    const auto* keyed = tracer::fixtures::auto_keying_mount();
    ASSERT_TRUE(keyed);
    std::vector<std::string> procs{keyed->mount_point + "/docker/" + id + "/cgroup.procs"};
    if (const auto* v2 = tracer::fixtures::host_layout().unified())
        procs.push_back(v2->mount_point + "/docker/" + id + "/cgroup.procs");
    const std::string line = "app.dsd.requests:1|c|#via:uds";
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::snprintf(to.sun_path, sizeof to.sun_path, "%s", sock.c_str());
    pid_t child = fork();
    if (child == 0) {
        for (const auto& p : procs) {
            int fd = open(p.c_str(), O_WRONLY);
            if (fd < 0 || write(fd, "0", 1) != 1) _exit(2);
            close(fd);
        }
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        for (int i = 0; i < 100; ++i)
            if (sendto(s, line.data(), line.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) _exit(3);
        sleep(5);  // the origin is looked up while the sender lives
        _exit(0);
    }
    ASSERT_GT(child, 0);
    auto s = wait_for("app_dsd_requests_total",
                      {{"container_name", "tracer-e2e-dsd"}, {"image", engine_->image()}, {"team", "core"},
                       {"container_id", id.substr(0, 12)}, {"cgroup", "/docker/" + id}, {"via", "uds"}},
                      100);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_EQ(status, 0) << "the sender could not join the container's cgroups or send";
    ASSERT_TRUE(s);
    EXPECT_EQ(s->value, 100);
    unlink(sock.c_str());

    // Over UDP the sender names its container in a `|c:` field: the same tags.
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(udp_port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string tagged = "app.dsd.udp:1|c|#via:udp|c:" + id;
    for (int i = 0; i < 50; ++i)
        ASSERT_EQ(sendto(udp, tagged.data(), tagged.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst),
                  ssize_t(tagged.size()));
    close(udp);
    auto u = wait_for("app_dsd_udp_total",
                      {{"container_name", "tracer-e2e-dsd"}, {"image", engine_->image()}, {"team", "core"},
                       {"container_id", id.substr(0, 12)}, {"cgroup", "/docker/" + id}, {"via", "udp"}},
                      50);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->value, 50);
}

}  // namespace

namespace {

TEST_F(DockerContainers, TraceFiltersEventsByContainerName) {
    Subprocess trace({TRACER_BINARY, "trace", "--format", "json", "--events", "exec", "--container", "tracer-e2e-7",
                      "--docker-socket", engine_->socket()});
    auto end = std::chrono::steady_clock::now() + 20s;
    while (trace.output().find("tracing") == std::string::npos && trace.running() &&
           std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(50ms);
    ASSERT_NE(trace.output().find("tracing"), std::string::npos) << trace.output();
    // Both exec /bin/echo; only the first is asked for.
    run_container("tracer-e2e-7", {}, "sleep 1; /bin/echo seven; exec sleep 1000");
    run_container("tracer-e2e-8", {}, "sleep 1; /bin/echo eight; exec sleep 1000");
    bool seen = false;
    end = std::chrono::steady_clock::now() + 20s;
    while (!seen && trace.running() && std::chrono::steady_clock::now() < end) {
        seen = trace.output().find("\"filename\":\"/bin/echo\",") != std::string::npos ||
               trace.output().find("\"filename\":\"/bin/echo\"}") != std::string::npos;
        if (!seen) std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(1500ms);  // the other container's exec has happened too by now
    trace.signal(SIGINT);
    EXPECT_EQ(trace.wait_for(10s), 0);
    std::string out = trace.output();
    EXPECT_TRUE(seen) << out;
    EXPECT_NE(out.find("\"container\":\"tracer-e2e-7\""), std::string::npos) << out;
    EXPECT_EQ(out.find("tracer-e2e-8"), std::string::npos) << out;
    // Every event line is the wanted container's.
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("{\"time\"", 0) == 0) {
            EXPECT_NE(line.find("\"container\":\"tracer-e2e-7\""), std::string::npos) << line;
        }
}

}  // namespace

namespace {

TEST_F(DockerContainers, ContainerPluginSeriesCarryTheAgentsContainerTags) {
    // The container plugin under `tracer run`: the agent's own tagger names its
    // series (the `team` label comes from container_labels_as_tags).
    std::string id = run_container("tracer-e2e-plugin", {"--label", "team=core", "--memory", "32m"}, "exec sleep 1000");
    ASSERT_EQ(id.size(), 64u) << id;
    std::filesystem::path confd = "/tmp/tracer-docker-test-confd-" + std::to_string(getpid());
    std::filesystem::create_directories(confd);
    std::ofstream(confd / "container.yaml") << "instances:\n  - {}\n";
    start_tracer(1, "", "confd: \"" + confd.string() + "\"\n");
    LabelMap want{{"container_name", "tracer-e2e-plugin"}, {"image", engine_->image()}, {"team", "core"},
                  {"container_id", id.substr(0, 12)}, {"cgroup", "/docker/" + id}};
    auto limit = wait_for("container_memory_limit_bytes", want, 32 << 20);
    std::filesystem::remove_all(confd);
    ASSERT_TRUE(limit);
    EXPECT_EQ(limit->value, 32 << 20);
    EXPECT_TRUE(wait_for("docker_containers_running_total", {}, 1));
}

TEST_F(DockerContainers, HostRootReachesCgroupfsAndTheSocketOfTheHost) {
    std::string host_root = "/tmp/tracer-hostroot-" + std::to_string(getpid());
    const std::string api = "/tmp/tracer-hostroot-api-" + std::to_string(getpid()) + ".sock";
    start_tracer(1, host_root, "api_socket: \"" + api + "\"\n");
    std::string id = run_container("tracer-e2e-9", {"--label", "team=core"}, kWrites + "; exec sleep 1000");
    auto s = wait_for("tracer_syscalls_total",
                      {{"container_name", "tracer-e2e-9"}, {"team", "core"}, {"syscall", "write"}}, 5000);
    EXPECT_TRUE(s);
    EXPECT_NE(tracer_->output().find(host_root + "/sys/fs/cgroup"), std::string::npos) << tracer_->output();

    // tracer top on the host, and in the agent's own mount namespace (as
    // `kubectl exec` into its pod would run it, where the host's cgroupfs is
    // under the host root only): the container's memory and pids either way.
    for (bool inside : {false, true}) {
        std::vector<std::string> argv{TRACER_BINARY, "top", "--batch", "--iterations", "1", "--format", "json",
                                      "--socket", api};
        if (inside)
            argv.insert(argv.begin(), {"/usr/bin/nsenter", "-t", std::to_string(tracer_->pid()), "-m", "--"});
        Subprocess top(argv);
        ASSERT_EQ(top.wait_for(30s), 0) << top.output();
        const auto refresh = nlohmann::json::parse(top.output(), nullptr, false);
        ASSERT_TRUE(refresh.is_object()) << top.output();
        bool found = false;
        for (const auto& row : refresh["rows"])
            if (row.value("key", "") == id.substr(0, 12)) {
                found = true;
                EXPECT_TRUE(row["memory_bytes"].is_number()) << (inside ? "inside: " : "host: ") << row.dump();
                EXPECT_TRUE(row["pids"].is_number() && row["pids"].get<double>() >= 1)
                    << (inside ? "inside: " : "host: ") << row.dump();
            }
        EXPECT_TRUE(found) << top.output();
    }
    tracer_->signal(SIGTERM);
    tracer_->wait_for(10s);
    tracer_.reset();  // its mount namespace goes with it
    rmdir(host_root.c_str());
}

}  // namespace

namespace {

// podman's Docker-compatible service, followed as docker_socket.
class PodmanContainers : public DockerContainers {
protected:
    static void SetUpTestSuite() {
        podman_skip_ = tracer::fixtures::root_skip_reason();
        if (podman_skip_.empty()) podman_skip_ = tracer::fixtures::PodmanService::skip_reason();
        if (!podman_skip_.empty()) return;
        try {
            podman_ = std::make_unique<tracer::fixtures::PodmanService>();
        } catch (const std::exception& e) {
            podman_error_ = e.what();
        }
    }
    static void TearDownTestSuite() { podman_.reset(); }
    void SetUp() override {
        if (!podman_skip_.empty()) GTEST_SKIP() << podman_skip_;
        ASSERT_TRUE(podman_) << "podman system service did not start: " << podman_error_;
        socket_ = podman_->socket();
    }
    static inline std::string podman_skip_, podman_error_;
    static inline std::unique_ptr<tracer::fixtures::PodmanService> podman_;
};

TEST_F(PodmanContainers, PodmanContainersAreNamedThroughItsDockerCompatibleApi) {
    start_tracer();
    std::string id = podman_->podman({"run", "-d", "--name", "tracer-e2e-pm", "--label", "team=core", "--network",
                                      "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                      podman_->image(), "sh", "-c", kWrites + "; exec sleep 1000"});
    ASSERT_EQ(id.size(), 64u) << id;
    auto s = wait_for("tracer_syscalls_total",
                      {{"container_name", "tracer-e2e-pm"}, {"image", podman_->image()}, {"team", "core"},
                       {"container_id", id.substr(0, 12)}, {"syscall", "write"}},
                      5000);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->labels["cgroup"], "/libpod_parent/libpod-" + id);
    EXPECT_LE(s->value, 5100);
}

// Kubernetes containers of a real containerd, named from their OCI bundles
// (no Docker, no kubelet): the agent runs as a DaemonSet would, with the
// node's /proc, /sys and /run under --host-root.
class ContainerdPods : public Scraping<::testing::Test> {
protected:
    static void SetUpTestSuite() {
        skip_ = tracer::fixtures::root_skip_reason();
        if (skip_.empty()) skip_ = tracer::fixtures::ContainerdRuntime::skip_reason();
        if (!skip_.empty()) return;
        try {
            runtime_ = std::make_unique<tracer::fixtures::ContainerdRuntime>();
        } catch (const std::exception& e) {
            error_ = e.what();
        }
    }
    static void TearDownTestSuite() { runtime_.reset(); }
    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        ASSERT_TRUE(runtime_) << "containerd did not start: " << error_;
    }
    void TearDown() override {
        stop_tracer();
        if (!config_.empty()) unlink(config_.c_str());
    }

    // `argv` in a mount namespace of its own, the host's /proc and /sys bound
    // below the runtime's host root, whose run/containerd holds the bundles.
    std::unique_ptr<Subprocess> in_host_root(std::vector<std::string> argv) {
        const std::string root = runtime_->host_root();
        std::filesystem::create_directories(root + "/proc");
        std::filesystem::create_directories(root + "/sys");
        argv.insert(argv.end(), {"--host-root", root});
        std::string cmd = "mount --rbind /proc " + root + "/proc && mount --rbind /sys " + root + "/sys && exec";
        for (const auto& a : argv) cmd += " '" + a + "'";
        return std::make_unique<Subprocess>(
            std::vector<std::string>{"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", cmd});
    }

    void start_tracer() {
        config_ = "/tmp/tracer-containerd-test-" + std::to_string(getpid()) + ".yaml";
        api_ = "/tmp/tracer-containerd-api-" + std::to_string(getpid()) + ".sock";
        std::ofstream(config_) << "docker_socket: \"\"\napi_socket: \"" << api_ << "\"\n";
        port_ = tracer::fixtures::free_tcp_port();
        tracer_ = in_host_root({TRACER_BINARY, "run", "-c", config_, "--interval", "1", "--metrics-addr",
                                "127.0.0.1:" + std::to_string(port_)});
        wait_for("tracer_build_info", {});
    }

    std::string config_, api_;
    static inline std::string skip_, error_;
    static inline std::unique_ptr<tracer::fixtures::ContainerdRuntime> runtime_;
};

TEST_F(ContainerdPods, PodContainersAreNamedByPodNamespaceAndContainerOnMetricsInTopAndInTrace) {
    using Runtime = tracer::fixtures::ContainerdRuntime;
    // Two pods whose containers are both called "app", as different pods'
    // often are; one pod's sandbox. Started before the agent: it must find them.
    // The second pod's cgroups are named as the kubelet's systemd driver names them.
    const auto web = Runtime::make_pod("web-7d9f", "shop"), api = Runtime::make_pod("api-5c6b", "billing", true);
    const std::string sandbox = runtime_->run(web, "", "", "exec sleep 100000");
    const std::string web_app = runtime_->run(web, "app", "registry.example/web:1.2",
                                              "while :; do echo x >/dev/null; done");
    ASSERT_EQ(sandbox.size(), 64u);
    ASSERT_EQ(web_app.size(), 64u);
    start_tracer();
    // And one started while the agent runs: named from its bundle as it appears.
    const std::string api_app = runtime_->run(api, "app", "registry.example/api:2",
                                              "while :; do echo x >/dev/null; /bin/sleep 0.05; done");
    ASSERT_EQ(api_app.size(), 64u);

    auto web_writes = wait_for("tracer_syscalls_total",
                               {{"cgroup", Runtime::container_cgroup(web, web_app)},
                                {"container_id", web_app.substr(0, 12)},
                                {"container_name", "app"},
                                {"image", "registry.example/web:1.2"},
                                {"pod", "web-7d9f"},
                                {"namespace", "shop"},
                                {"kube_container", "app"},
                                {"syscall", "write"}},
                               1000);
    ASSERT_TRUE(web_writes);
    auto api_writes = wait_for("tracer_syscalls_total",
                               {{"cgroup", Runtime::container_cgroup(api, api_app)},
                                {"container_id", api_app.substr(0, 12)},
                                {"container_name", "app"},
                                {"image", "registry.example/api:2"},
                                {"pod", "api-5c6b"},
                                {"namespace", "billing"},
                                {"kube_container", "app"},
                                {"syscall", "write"}},
                               10);
    ASSERT_TRUE(api_writes);
    // The sandbox, idle since the agent started: listed, named after its pod.
    auto info = wait_for("tracer_container_info", {{"container_id", sandbox.substr(0, 12)},
                                                   {"cgroup", Runtime::container_cgroup(web, sandbox)},
                                                   {"container_name", "web-7d9f"},
                                                   {"pod", "web-7d9f"},
                                                   {"namespace", "shop"}});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->labels.count("kube_container"), 0u);

    // tracer top tells the two "app"s apart.
    Subprocess top({TRACER_BINARY, "top", "--batch", "--iterations", "2", "--delay", "1", "--format", "json",
                    "--socket", api_});
    ASSERT_EQ(top.wait_for(30s), 0) << top.output();
    std::string out = top.output();
    while (!out.empty() && out.back() == '\n') out.pop_back();
    const auto last = nlohmann::json::parse(out.substr(out.rfind('\n') + 1), nullptr, false);  // (the last refresh)
    ASSERT_TRUE(last.is_object() && last.contains("rows")) << out;
    auto names = [&](const std::string& id, const std::string& pod, const std::string& ns, const std::string& name) {
        for (const auto& row : last["rows"])
            if (row.value("key", "") == id.substr(0, 12)) {
                EXPECT_EQ(row.value("name", ""), name);
                EXPECT_EQ(row.value("pod", ""), pod);
                EXPECT_EQ(row.value("namespace", ""), ns);
                return;
            }
        ADD_FAILURE() << id << " (" << name << ") is not a row of " << last.dump();
    };
    names(web_app, "web-7d9f", "shop", "web-7d9f/app");
    names(api_app, "api-5c6b", "billing", "api-5c6b/app");
    names(sandbox, "web-7d9f", "shop", "web-7d9f/POD");

    // tracer trace picks one pod's container by that name: api-5c6b/app's
    // execs of sleep, none of web-7d9f/app (which execs nothing).
    auto trace = in_host_root({TRACER_BINARY, "trace", "--events", "exec", "--format", "json", "--container",
                               "api-5c6b/app"});
    EXPECT_TRUE(tracer::fixtures::wait_output(*trace, "\"container\":\"api-5c6b/app\",\"filename\":\"/bin/sleep\"",
                                              30s))
        << trace->output();
    trace->signal(SIGINT);
    EXPECT_EQ(trace->wait_for(10s), 0) << trace->output();
    EXPECT_EQ(trace->output().find("web-7d9f"), std::string::npos) << trace->output();

    // A deleted container leaves the list with its cgroup.
    runtime_->remove(api_app);
    auto end = std::chrono::steady_clock::now() + 20s;
    while (!find(scrape(), "tracer_container_info", {{"container_id", api_app.substr(0, 12)}}).empty() &&
           std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(200ms);
    auto page = scrape();
    EXPECT_TRUE(find(page, "tracer_container_info", {{"container_id", api_app.substr(0, 12)}}).empty());
    EXPECT_EQ(find(page, "tracer_container_info", {{"container_id", web_app.substr(0, 12)}}).size(), 1u);
}

}  // namespace
