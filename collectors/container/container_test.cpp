// container: the cgroup files of a fake cgroup v1 mount and a fake v2 mount
// written by the test (values it controls), named by a real ContainerTagger,
// through the plugin's factory; the Docker list parser on a sample answer.
// The same plugin against a real dockerd: tests/docker/container_plugin_test.cpp.
#include "collectors/check_results.h"
#include "collectors/container/cgroup_stats.h"
#include "collectors/container/container.h"
#include "collectors/host_services.h"
#include "collectors/confd.h"
#include "containers/container_tagger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace tracer::collectors {
namespace {

namespace fs = std::filesystem;

const std::string kWeb = std::string(64, 'a');      // named in the metadata cache
const std::string kPending = std::string(64, 'b');  // metadata not known yet

class ContainerPluginFiles : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tracer-container-test-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        containers::ContainerInfo web;
        web.id = kWeb;
        web.name = "web";
        web.image = "nginx:1.25";
        cache_.put(web);
        tagger_ = std::make_unique<containers::ContainerTagger>(cache_, containers::ContainerTaggerOptions{});
    }
    void TearDown() override { fs::remove_all(dir_); }

    void write(const std::string& path, const std::string& text) {
        fs::path p = dir_ / path.substr(1);
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }
    containers::CgroupMount mount(const std::string& sub, bool v2, std::vector<std::string> controllers) {
        fs::create_directories(dir_ / sub);
        return {(dir_ / sub).string(), "/", v2, std::move(controllers)};
    }

    // One run of an instance (`yaml`) over `layout`.
    CollectedRun run(const containers::CgroupLayout& layout, const std::string& yaml = "docker_state_counts: false",
                     const std::string& docker_socket = "") {
        auto host = std::make_shared<HostServices>();
        host->cgroup_layout = layout;
        host->container_labels = [this](const std::string& p) { return tagger_->container_labels(p); };
        host->docker_socket = docker_socket;
        InstanceConfig cfg;
        cfg.plugin = "container";
        cfg.file = "container.yaml";
        cfg.instance = YAML::Load(yaml);
        cfg.host = host;
        auto check = find_plugin("container")->factory(cfg);
        CollectedRun out(std::chrono::steady_clock::now() + std::chrono::seconds(10));
        check->run(out);
        return out;
    }

    static std::optional<double> value(const CollectedRun& r, const std::string& name, const std::string& id) {
        std::optional<double> found;
        for (const auto& m : r.metrics) {
            if (m.name != name) continue;
            for (const auto& l : m.labels)
                if (l.name == "container_id" && l.value == id.substr(0, 12)) {
                    EXPECT_FALSE(found) << name << " reported twice for " << id;
                    found = m.value;
                }
        }
        return found;
    }

    using Expected = std::vector<std::pair<std::string, std::optional<double>>>;
    static void expect(const CollectedRun& r, const std::string& id, const Expected& want) {
        for (const auto& [name, v] : want) EXPECT_EQ(value(r, name, id), v) << name;
    }

    static std::string label(const ReportedMetric& m, const std::string& name) {
        for (const auto& l : m.labels)
            if (l.name == name) return l.value;
        return "";
    }

    fs::path dir_;
    containers::MetadataCache cache_;
    std::unique_ptr<containers::ContainerTagger> tagger_;
};

TEST_F(ContainerPluginFiles, CgroupV1FilesPerContainerWithTheTaggersLabels) {
    containers::CgroupLayout layout;
    layout.mounts = {mount("memory", false, {"memory"}), mount("cpu,cpuacct", false, {"cpu", "cpuacct"}),
                     mount("blkio", false, {"blkio"}), mount("pids", false, {"pids"})};
    std::string web = "/docker/" + kWeb;
    write("/memory" + web + "/memory.usage_in_bytes", "10485760\n");
    write("/memory" + web + "/memory.limit_in_bytes", "67108864\n");
    write("/memory" + web + "/memory.stat",
          "cache 100\nrss 200\ninactive_file 50\npgfault 7\npgmajfault 1\n"
          "total_cache 4096\ntotal_rss 8192\ntotal_inactive_file 1048576\ntotal_pgfault 1234\ntotal_pgmajfault 5\n");
    write("/memory" + web + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    write("/cpu,cpuacct" + web + "/cpu.stat", "nr_periods 100\nnr_throttled 25\nthrottled_time 5000000\n");
    write("/blkio" + web + "/blkio.throttle.io_service_bytes",
          "8:0 Read 1000\n8:0 Write 2000\n8:0 Sync 3000\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 3000\n"
          "8:16 Read 10\n8:16 Write 20\n8:16 Total 30\nTotal 3030\n");
    write("/blkio" + web + "/blkio.throttle.io_serviced", "8:0 Read 3\n8:0 Write 4\n8:0 Total 7\nTotal 7\n");
    write("/pids" + web + "/pids.current", "3\n");
    write("/pids" + web + "/pids.max", "50\n");
    // A sub-cgroup of the container is part of it, not a container of its own.
    write("/memory" + web + "/init.scope/memory.usage_in_bytes", "1\n");
    // No limits (v1's "unlimited" value, pids "max"); its name is not known yet.
    std::string pending = "/system.slice/docker-" + kPending + ".scope";
    write("/memory" + pending + "/memory.usage_in_bytes", "4096\n");
    write("/memory" + pending + "/memory.limit_in_bytes", "9223372036854771712\n");
    write("/pids" + pending + "/pids.max", "max\n");
    // Not a container.
    write("/memory/system.slice/cron.service/memory.usage_in_bytes", "999\n");

    auto r = run(layout);
    expect(r, kWeb, {
        {"container.memory.usage", 10485760},
        {"container.memory.limit", 64 << 20},
        {"container.memory.rss", 8192},
        {"container.memory.cache", 4096},
        {"container.memory.working_set", 10485760 - 1048576},
        {"container.memory.page_faults", 1234},
        {"container.memory.major_page_faults", 5},
        {"container.memory.oom_events", 2},
        {"container.cpu.periods", 100},
        {"container.cpu.throttled.periods", 25},
        {"container.cpu.throttled", 5000000},
        {"container.io.read", 1010},
        {"container.io.write", 2020},
        {"container.io.read.operations", 3},
        {"container.io.write.operations", 4},
        {"container.pid.thread_count", 3},
        {"container.pid.thread_limit", 50},
    });

    expect(r, kPending, {
        {"container.memory.usage", 4096},
        {"container.memory.limit", std::nullopt},
        {"container.pid.thread_limit", std::nullopt},
        {"container.cpu.throttled", std::nullopt},  // no cpu.stat: left out
    });

    // Labels: the tagger's; the pending container has its id and cgroup.
    const ReportedMetric* web_usage = nullptr;
    const ReportedMetric* pending_usage = nullptr;
    size_t usage_series = 0;
    for (const auto& m : r.metrics) {
        if (m.name != "container.memory.usage") continue;
        ++usage_series;
        (label(m, "container_id") == kWeb.substr(0, 12) ? web_usage : pending_usage) = &m;
    }
    EXPECT_EQ(usage_series, 2u);  // not cron.service, not init.scope
    ASSERT_TRUE(web_usage && pending_usage);
    auto tagged = tagger_->tags_for_path(web).labels;
    std::sort(tagged.begin(), tagged.end());
    EXPECT_EQ(web_usage->labels, tagged);
    EXPECT_EQ(label(*web_usage, "container_name"), "web");
    EXPECT_EQ(label(*web_usage, "image"), "nginx:1.25");
    EXPECT_EQ(label(*web_usage, "cgroup"), web);
    EXPECT_EQ(label(*pending_usage, "cgroup"), pending);
    EXPECT_EQ(label(*pending_usage, "container_name"), "");

    ASSERT_EQ(r.service_checks.size(), 1u);
    EXPECT_EQ(r.service_checks[0].name, "container.can_connect");
    EXPECT_EQ(r.service_checks[0].status, CheckStatus::Ok);
    EXPECT_EQ(r.service_checks[0].message, "2 containers");

    // include / exclude by name: the pending container has no name to match yet.
    auto only_web = run(layout, "{docker_state_counts: false, include: ['^we']}");
    EXPECT_EQ(value(only_web, "container.memory.usage", kWeb), 10485760);
    EXPECT_EQ(value(only_web, "container.memory.usage", kPending), std::nullopt);
    auto no_web = run(layout, "{docker_state_counts: false, exclude: ['^web$']}");
    EXPECT_EQ(value(no_web, "container.memory.usage", kWeb), std::nullopt);
    EXPECT_EQ(value(no_web, "container.memory.usage", kPending), 4096);
}

TEST_F(ContainerPluginFiles, CgroupV2FilesAndAMalformedLine) {
    containers::CgroupLayout layout;
    layout.mounts = {mount("unified", true, {})};
    std::string web = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/"
                      "cri-containerd-" + kWeb + ".scope";
    write("/unified" + web + "/memory.current", "20971520\n");
    write("/unified" + web + "/memory.max", "max\n");
    write("/unified" + web + "/memory.stat",
          "anon 12288\nfile 8192\nkernel 4096\ninactive_file 2097152\nthis line is wrong\npgfault 99\npgmajfault 3\n");
    write("/unified" + web + "/memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n");
    write("/unified" + web + "/cpu.stat",
          "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 40\nnr_throttled 10\nthrottled_usec 2500\n");
    write("/unified" + web + "/io.stat",
          "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
          "253:1 rbytes=100 wbytes=200 rios=10 wios=20 dbytes=0 dios=0\n");
    write("/unified" + web + "/pids.current", "7\n");
    write("/unified" + web + "/pids.max", "max\n");
    write("/unified" + web + "/cpu.pressure",
          "some avg10=1.50 avg60=0.40 avg300=0.10 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
    write("/unified" + web + "/memory.pressure",
          "some avg10=0.00 avg60=0.00 avg300=0.00 total=2000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500\n");
    write("/unified" + web + "/io.pressure",
          "some avg10=0.00 avg60=0.00 avg300=0.00 total=30\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=20\n");

    auto r = run(layout);
    expect(r, kWeb, {
        {"container.memory.usage", 20971520},
        {"container.memory.limit", std::nullopt},  // "max"
        {"container.memory.rss", 12288},
        {"container.memory.cache", 8192},
        {"container.memory.working_set", 20971520 - 2097152},
        {"container.memory.page_faults", 99},  // the lines after the bad one count
        {"container.memory.major_page_faults", 3},
        {"container.memory.oom_events", 1},
        {"container.cpu.periods", 40},
        {"container.cpu.throttled.periods", 10},
        {"container.cpu.throttled", 2500000},
        {"container.io.read", 4196},
        {"container.io.write", 8392},
        {"container.io.read.operations", 11},
        {"container.io.write.operations", 22},
        {"container.pid.thread_count", 7},
        {"container.pid.thread_limit", std::nullopt},
        {"container.cpu.partial_stall", 123456000},  // (us to ns)
        {"container.memory.partial_stall", 2000000},
        {"container.memory.full_stall", 500000},
        {"container.io.partial_stall", 30000},
        {"container.io.full_stall", 20000},
    });

    ASSERT_EQ(r.service_checks.size(), 1u);
    EXPECT_EQ(r.service_checks[0].status, CheckStatus::Ok);
    std::string stat = (dir_ / "unified").string() + web + "/memory.stat";
    EXPECT_EQ(r.service_checks[0].message,
              "1 containers; 1 cgroup file(s) not usable, first: " + stat + ":5: malformed line 'this line is wrong'");
}

TEST_F(ContainerPluginFiles, AnUnreadableTreeFailsTheRunAndADeadDockerSocketWarns) {
    containers::CgroupLayout layout;
    layout.mounts = {{(dir_ / "not-mounted").string(), "/", true, {}}};
    EXPECT_THROW(
        {
            try {
                run(layout);
            } catch (const std::runtime_error& e) {
                EXPECT_NE(std::string(e.what()).find("cannot read the cgroup tree at " + (dir_ / "not-mounted").string()),
                          std::string::npos)
                    << e.what();
                throw;
            }
        },
        std::runtime_error);

    // The cgroups are read; Docker does not answer: a warning naming the socket.
    layout.mounts = {mount("unified", true, {})};
    std::string socket = (dir_ / "no-docker.sock").string();
    auto out = run(layout, "{}", socket);
    ASSERT_EQ(out.service_checks.size(), 1u);
    EXPECT_EQ(out.service_checks[0].status, CheckStatus::Warning);
    EXPECT_NE(out.service_checks[0].message.find(socket), std::string::npos)
        << out.service_checks[0].message;
}

TEST(ContainerPlugin, DockerStatesPerImage) {
    auto counts = docker_state_counts(R"([
        {"Id": "1", "Image": "nginx:1.25", "State": "running"},
        {"Id": "2", "Image": "nginx:1.25", "State": "exited"},
        {"Id": "3", "Image": "nginx:1.25", "State": "paused"},
        {"Id": "4", "Image": "redis:7", "State": "created"},
        {"Id": "5", "Image": "redis:7", "State": "running"},
        {"Id": "6", "Image": "redis:7", "State": "dead"}])");
    ASSERT_EQ(counts.size(), 2u);
    EXPECT_EQ(counts["nginx:1.25"].running, 1);
    EXPECT_EQ(counts["nginx:1.25"].paused, 1);
    EXPECT_EQ(counts["nginx:1.25"].stopped, 1);
    EXPECT_EQ(counts["redis:7"].running, 1);
    EXPECT_EQ(counts["redis:7"].paused, 0);
    EXPECT_EQ(counts["redis:7"].stopped, 2);
    EXPECT_TRUE(docker_state_counts("[]").empty());
    EXPECT_THROW(docker_state_counts(R"({"message": "page not found"})"), std::runtime_error);
}

TEST(ContainerPlugin, ParsersNameTheBadLine) {
    std::vector<std::string> problems;
    auto kv = parse_key_values("a 1\nb two\nc 3\n", "/x/cpu.stat", problems);
    EXPECT_EQ(kv, (std::map<std::string, double>{{"a", 1}, {"c", 3}}));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], "/x/cpu.stat:2: malformed line 'b two'");
    problems.clear();
    EXPECT_EQ(parse_limit("max\n", "/x/memory.max", problems), std::nullopt);
    EXPECT_EQ(parse_limit("1048576\n", "/x/memory.max", problems), 1048576);
    EXPECT_EQ(parse_limit("lots\n", "/x/memory.max", problems), std::nullopt);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], "/x/memory.max:1: malformed line 'lots'");
    problems.clear();
    auto io = parse_io_stat("8:0 rbytes=1 wbytes=2\n8:16 rbytes=5 wbytes=x\n", "/x/io.stat", problems);
    EXPECT_EQ(io, (std::map<std::string, double>{{"rbytes", 1}, {"wbytes", 2}}));  // not half a line
    EXPECT_EQ(problems.size(), 1u);
    problems.clear();
    auto psi = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 total=x\n",
                              "/x/io.pressure", problems);
    EXPECT_EQ(psi, (std::map<std::string, double>{{"some", 42}}));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], "/x/io.pressure:2: malformed line 'full avg10=0.00 total=x'");
}

TEST(ContainerPlugin, ABadRegexIsAConfigErrorNamingTheKey) {
    auto load = load_confd_text("instances:\n  - exclude: ['(']\n", "container.yaml", "container");
    ASSERT_EQ(load.problems.size(), 1u);
    EXPECT_NE(load.problems[0].message.find("container.yaml:2"), std::string::npos) << load.problems[0].message;
    EXPECT_NE(load.problems[0].message.find("'exclude': '(' is not a valid regular expression"), std::string::npos)
        << load.problems[0].message;
}

}  // namespace
}  // namespace tracer::collectors
