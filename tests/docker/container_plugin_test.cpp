// The container plugin against a real dockerd (tests/support/docker_engine.h)
// through `tracer check container`, as a user runs it: a container with a
// 64 MiB memory limit, a pids limit of 50, two processes and 8 MiB written to
// its /dev/shm; then one stopped. Skipped with the reason when docker.io is absent.
#include "docker_engine.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::Subprocess;

namespace {

struct Point {
    double value = 0;
    std::map<std::string, std::string> tags;
};

class ContainerPluginDocker : public tracer::fixtures::DockerEngineSuite {
protected:
    void SetUp() override {
        DockerEngineSuite::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        dir_ = std::filesystem::temp_directory_path() / ("tracer-container-plugin-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_ / "conf.d");
        std::ofstream(dir_ / "tracer.yaml") << "docker_socket: \"" << engine_->socket() << "\"\n";
        std::ofstream(dir_ / "conf.d" / "container.yaml") << "instances:\n  - docker_state_counts: true\n";
    }
    void TearDown() override {
        DockerEngineSuite::TearDown();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    // `tracer check container --format json`: its metrics by name
    // (`rates`: with --check-rate, two runs a second apart).
    std::multimap<std::string, Point> check(bool rates = false) {
        std::string cmd = std::string("'") + TRACER_BINARY + "' check container --format json " +
                          (rates ? "--check-rate " : "") + "-c " +
                          (dir_ / "tracer.yaml").string() + " --confd " + (dir_ / "conf.d").string() +
                          " 2>" + (dir_ / "stderr").string();
        Subprocess p({"/bin/sh", "-c", cmd});
        int code = p.wait_for(60s);
        std::ifstream err(dir_ / "stderr");
        std::string stderr_text((std::istreambuf_iterator<char>(err)), {});
        EXPECT_EQ(code, 0) << p.output() << stderr_text;
        auto doc = nlohmann::json::parse(p.output(), nullptr, false);
        std::multimap<std::string, Point> out;
        if (!doc.is_object() || doc["instances"].size() != 1) {
            ADD_FAILURE() << "not the JSON of one instance: " << p.output() << stderr_text;
            return out;
        }
        const auto& instance = doc["instances"][0];
        EXPECT_EQ(instance["status"], "OK") << instance.dump(2);
        for (const auto& m : instance["metrics"]) {
            Point pt;
            pt.value = m["value"].get<double>();
            for (const auto& t : m["tags"]) {
                std::string tag = t.get<std::string>();
                auto colon = tag.find(':');
                pt.tags[tag.substr(0, colon)] = colon == std::string::npos ? "" : tag.substr(colon + 1);
            }
            out.emplace(m["name"].get<std::string>(), std::move(pt));
        }
        return out;
    }

    // The point of `name` tagged container_name:`container`; nullopt if none.
    static std::optional<Point> of(const std::multimap<std::string, Point>& metrics, const std::string& name,
                                   const std::string& tag, const std::string& value) {
        auto [first, last] = metrics.equal_range(name);
        for (auto it = first; it != last; ++it)
            if (auto t = it->second.tags.find(tag); t != it->second.tags.end() && t->second == value) return it->second;
        return std::nullopt;
    }
    static double total(const std::multimap<std::string, Point>& metrics, const std::string& name) {
        auto it = metrics.find(name);
        EXPECT_NE(it, metrics.end()) << name;
        return it == metrics.end() ? -1 : it->second.value;
    }

    std::filesystem::path dir_;
};

TEST_F(ContainerPluginDocker, LimitsPidsMemoryNamesAndStateCounts) {
    std::string name = "tracer-plugin-" + std::to_string(getpid());
    std::string other = name + "-b";
    // Two processes (a background sleep, then the shell replaced by another)
    // once 8 MiB of /dev/shm (memory charged to the container) are written.
    std::string id = run_container(name, {"--memory", "64m", "--pids-limit", "50"},
                                   "sleep 1000000 & dd if=/dev/zero of=/dev/shm/fill bs=1M count=8 && "
                                   "touch /tmp/filled && exec sleep 1000000");
    run_container(other, {}, "exec sleep 1000000");
    ASSERT_EQ(id.size(), 64u) << id;
    for (int i = 0; i < 100 && engine_->try_docker({"exec", name, "test", "-e", "/tmp/filled"}).first != 0; ++i)
        std::this_thread::sleep_for(100ms);

    auto metrics = check();
    auto limit = of(metrics, "container.memory.limit", "container_name", name);
    ASSERT_TRUE(limit) << "no container.memory.limit for " << name;
    EXPECT_EQ(limit->value, 64.0 * 1024 * 1024);
    EXPECT_EQ(limit->tags["container_id"], id.substr(0, 12));
    EXPECT_EQ(limit->tags["image"], engine_->image());
    auto usage = of(metrics, "container.memory.usage", "container_name", name);
    ASSERT_TRUE(usage);
    EXPECT_GE(usage->value, 8.0 * 1024 * 1024);
    EXPECT_LE(usage->value, 64.0 * 1024 * 1024);
    auto working_set = of(metrics, "container.memory.working_set", "container_name", name);
    ASSERT_TRUE(working_set);
    EXPECT_LE(working_set->value, usage->value);
    EXPECT_GE(working_set->value, 8.0 * 1024 * 1024);  // shm is not inactive file cache to drop
    auto thread_limit = of(metrics, "container.pid.thread_limit", "container_name", name);
    ASSERT_TRUE(thread_limit);
    EXPECT_EQ(thread_limit->value, 50);

    // The tasks of the container's cgroup, as the kernel lists them.
    auto threads = of(metrics, "container.pid.thread_count", "container_name", name);
    ASSERT_TRUE(threads);
    EXPECT_EQ(threads->value, 2);
    const auto& layout = tracer::fixtures::host_layout();
    const auto* pids = layout.v1_controller("pids") ? layout.v1_controller("pids") : layout.unified();
    ASSERT_TRUE(pids);
    std::ifstream tasks(pids->mount_point + threads->tags["cgroup"] + (pids->v2 ? "/cgroup.threads" : "/tasks"));
    ASSERT_TRUE(tasks) << pids->mount_point << threads->tags["cgroup"];
    size_t lines = 0;
    for (std::string line; std::getline(tasks, line);) lines += !line.empty();
    EXPECT_EQ(lines, 2u);
    // The other container: no limit set, its own name.
    ASSERT_TRUE(of(metrics, "container.memory.usage", "container_name", other));
    EXPECT_FALSE(of(metrics, "container.memory.limit", "container_name", other));

    double running = total(metrics, "docker.containers.running.total");
    double stopped = total(metrics, "docker.containers.stopped.total");
    EXPECT_GE(running, 2);
    auto per_image = of(metrics, "docker.containers.running", "image", engine_->image());
    ASSERT_TRUE(per_image);
    EXPECT_GE(per_image->value, 2);

    // A busy loop held to a tenth of a CPU waits for its quota runnable: its
    // tasks stall on CPU most of the time (PSI: where cgroup2 is mounted and
    // the runtime puts the container there too).
    std::string busy = name + "-busy";
    std::string busy_id = run_container(busy, {"--cpus", "0.1"}, "while :; do :; done");
    auto stalled = check(true);
    const auto* unified = layout.unified();
    if (unified && access("/proc/pressure/cpu", R_OK) == 0) {
        auto throttled = of(stalled, "container.cpu.throttled", "container_name", busy);
        ASSERT_TRUE(throttled) << "no container.cpu.throttled for " << busy;
        if (access((unified->mount_point + throttled->tags["cgroup"] + "/cpu.pressure").c_str(), R_OK) == 0) {
            auto stall = of(stalled, "container.cpu.partial_stall", "container_name", busy);
            ASSERT_TRUE(stall) << "no container.cpu.partial_stall for " << busy;
            EXPECT_GE(stall->value, 0.5e9) << "ns stalled per second";
        }
    }
    engine_->docker({"rm", "-f", busy});

    engine_->docker({"stop", "--time", "0", other});
    metrics = check();
    EXPECT_EQ(total(metrics, "docker.containers.stopped.total"), stopped + 1);
    EXPECT_EQ(total(metrics, "docker.containers.running.total"), running - 1);
    EXPECT_FALSE(of(metrics, "container.memory.usage", "container_name", other));  // its cgroup is gone
    EXPECT_TRUE(of(metrics, "container.memory.usage", "container_name", name));
}

}  // namespace
