// The agent's image (deploy/build-image.sh, from the built binary, no
// registry) run with exactly the Kubernetes DaemonSet's security context
// translated to `docker run`: all capabilities dropped but BPF, PERFMON and
// NET_ADMIN, the host's PID namespace, a read-only root, no new privileges,
// the same read-only host mounts under /host. It must attach every probe and
// name another Docker container (of the real dockerd) from inside its own.
// A dockerd too old to know CAP_BPF/CAP_PERFMON by name (Debian bookworm's
// 20.10 refuses them) cannot start it so; the same flags then go to `podman
// run` (rootful podman knows them), the container to name still runs under
// dockerd.
#include "docker_engine.h"
#include "fixtures.h"
#include "podman_service.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <tuple>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::DockerEngine;
using tracer::fixtures::PodmanService;
using tracer::fixtures::Subprocess;

namespace {

const char* kImage = "tracer:image-test";
const char* kAgent = "tracer-image-agent";
const char* kTarget = "tracer-image-target";

// The DaemonSet's container securityContext and volumes, as docker run flags
// (deploy/kubernetes/daemonset.yaml).
std::vector<std::string> daemonset_security_flags() {
    return {
        "--cap-drop", "ALL", "--cap-add", "BPF", "--cap-add", "PERFMON", "--cap-add", "NET_ADMIN",  // capabilities
        "--pid", "host",                                                                          // hostPID
        "--security-opt", "no-new-privileges",      // allowPrivilegeEscalation: false
        "--security-opt", "seccomp=unconfined",     // seccompProfile: Unconfined
        "--read-only",                              // readOnlyRootFilesystem
        "--user", "0:0",                            // runAsUser/runAsGroup 0
        "--memory", "256m",                         // limits.memory
        "-v", "/sys/kernel/btf:/sys/kernel/btf:ro",
        "-v", "/sys/fs/cgroup:/host/sys/fs/cgroup:ro",
        "-v", "/proc:/host/proc:ro",
        "-v", "/run:/host/run:ro",
    };
}

class AgentImage : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        engine_ = DockerEngine::start_for_suite(skip_, setup_error_);
        if (!engine_) return;
        Subprocess build({"/usr/bin/env", "DOCKER_HOST=unix://" + engine_->socket(),
                          std::string(TRACER_SOURCE_DIR) + "/deploy/build-image.sh", TRACER_BINARY, kImage});
        int rc = build.wait_for(120s);
        if (rc != 0) setup_error_ = "deploy/build-image.sh exited " + std::to_string(rc) + ": " + build.output();
    }
    static void TearDownTestSuite() { engine_.reset(); }

    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        ASSERT_TRUE(engine_ && setup_error_.empty()) << setup_error_;
        dir_ = "/tmp/tracer-image-test-" + std::to_string(getpid());
        std::filesystem::create_directories(dir_ + "/spool");
        std::filesystem::create_directories(dir_ + "/run");
    }
    void TearDown() override {
        if (engine_) {
            if (HasFailure()) std::cerr << "agent log:\n" << logs() << "\n";
            agent_cli({"rm", "-f", kAgent});
            engine_->try_docker({"rm", "-f", kTarget});
        }
        podman_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    // The CLI of the engine the agent runs under: dockerd, or podman when dockerd cannot grant the capabilities.
    std::pair<int, std::string> agent_cli(const std::vector<std::string>& args) {
        return podman_ ? podman_->try_podman(args) : engine_->try_docker(args);
    }
    std::string logs() { return agent_cli({"logs", kAgent}).second; }
    std::string build_image_for_podman() {
        podman_ = std::make_unique<PodmanService>();
        std::string tag = std::string("localhost/") + kImage;
        Subprocess build({"/usr/bin/env", "IMAGE_CLI=podman --url unix://" + podman_->socket(),
                          std::string(TRACER_SOURCE_DIR) + "/deploy/build-image.sh", TRACER_BINARY, tag});
        int rc = build.wait_for(120s);
        EXPECT_EQ(rc, 0) << build.output();
        return rc == 0 ? tag : "";
    }

    static inline std::string skip_, setup_error_;
    static inline std::unique_ptr<DockerEngine> engine_;
    std::string dir_;
    std::unique_ptr<PodmanService> podman_;
};

TEST_F(AgentImage, DaemonSetSecurityContextAttachesEveryProbeAndNamesContainers) {
    // Another container for the agent to name: busy with syscalls, no network.
    engine_->docker({"run", "-d", "--name", kTarget, "--network", "none", engine_->image(), "sh", "-c",
                     "while true; do ls / > /dev/null; sleep 0.1; done"});

    // The ConfigMap's tracer.yaml, but: the host network (this engine has no
    // bridge) so /metrics is on loopback, and the test engine's socket (a
    // node's /run/docker.sock is under /host/run already).
    uint16_t port = tracer::fixtures::free_tcp_port();
    std::string engine_dir = engine_->socket().substr(0, engine_->socket().rfind('/'));
    std::ofstream(dir_ + "/tracer.yaml") << "host_root: /host\n"
                                         << "metrics_addr: \"127.0.0.1:" << port << "\"\n"
                                         << "interval: 1\n"
                                         << "docker_socket: \"" << engine_->socket() << "\"\n"
                                         << "spool_dir: /var/lib/tracer/spool\n"
                                         << "statsd:\n  listen: \"127.0.0.1:" << tracer::fixtures::free_tcp_port()
                                         << "\"\n  socket: /run/tracer/dsd.socket\n";
    std::vector<std::string> run{"run", "-d", "--name", kAgent, "--network", "host", "-e", "TRACER_HOSTNAME=node1"};
    for (auto& f : daemonset_security_flags()) run.push_back(f);
    for (auto& v : {dir_ + "/tracer.yaml:/etc/tracer/tracer.yaml:ro", engine_dir + ":/host" + engine_dir + ":ro",
                    dir_ + "/spool:/var/lib/tracer", dir_ + "/run:/run/tracer"})
        run.insert(run.end(), {"-v", v});
    std::vector<std::string> command{"run", "--config", "/etc/tracer/tracer.yaml"};
    auto with = [&](const std::vector<std::string>& extra, const std::string& image) {
        auto args = run;
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(image);
        args.insert(args.end(), command.begin(), command.end());
        return args;
    };
    auto [rc, out] = engine_->try_docker(with({}, kImage));
    if (rc != 0 && out.find("unknown capability") != std::string::npos) {
        std::cerr << "dockerd refuses the capability set (" << out.substr(0, out.find('\n'))
                  << "): the agent runs under podman with the same flags\n";
        if (auto why = PodmanService::skip_reason(); !why.empty()) GTEST_SKIP() << out << "; and podman: " << why;
        std::string image = build_image_for_podman();
        ASSERT_FALSE(image.empty());
        // podman would set the host's rlimits, which needs CAP_SYS_RESOURCE the test itself may lack.
        std::tie(rc, out) = agent_cli(with({"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:1024"}, image));
    }
    ASSERT_EQ(rc, 0) << out;

    // Started, every probe attached, capabilities given up.
    auto end = std::chrono::steady_clock::now() + 90s;
    while (std::chrono::steady_clock::now() < end && logs().find("capabilities: start-up done") == std::string::npos) {
        ASSERT_NE(agent_cli({"inspect", "-f", "{{.State.Running}}", kAgent}).second.find("true"), std::string::npos)
            << logs();
        std::this_thread::sleep_for(200ms);
    }
    std::string log = logs();
    EXPECT_NE(log.find("kept none"), std::string::npos) << log;
    EXPECT_EQ(log.find(" error "), std::string::npos) << log;

    // The other container, named from inside this one, on a per-cgroup series.
    std::string page;
    end = std::chrono::steady_clock::now() + 60s;
    const std::regex named("tracer_syscalls_total\\{[^}]*container_name=\"" + std::string(kTarget) + "\"");
    while (std::chrono::steady_clock::now() < end) {
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(1, 0);
        if (auto res = c.Get("/metrics"); res && res->status == 200) {
            page = res->body;
            if (std::regex_search(page, named)) break;
        }
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_TRUE(std::regex_search(page, named)) << "no tracer_syscalls_total of " << kTarget << " on /metrics";
    // Every kernel area attached.
    for (const char* probe : {"syscalls", "sched", "proc", "net"})
        EXPECT_EQ(tracer::fixtures::metric_value(page, std::string("tracer_probe_up{probe=\"") + probe + "\"}"), 1)
            << probe << "\n" << log;

    // The agent, seen from the host: no capability left in any of its threads.
    std::string pid = agent_cli({"inspect", "-f", "{{.State.Pid}}", kAgent}).second;
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    std::error_code ec;
    int threads = 0;
    for (const auto& t : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
        std::ifstream in(t.path() / "status");
        for (std::string line; std::getline(in, line);)
            if (line.rfind("CapEff:", 0) == 0) {
                ++threads;
                EXPECT_EQ(std::stoull(line.substr(7), nullptr, 16), 0u) << "thread " << t.path().filename();
            }
    }
    EXPECT_GT(threads, 1);
}

}  // namespace
