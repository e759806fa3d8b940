// `tracer run` while a thousand container cgroups come and go, four times
// over: what it keeps per cgroup (series, tags, metadata lookups, kernel map
// entries) stays bounded by max_cgroups and is released when they are gone.
#include "containers/cgroup_layout.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;

namespace {

constexpr int kCgroups = 1000;
constexpr int kRounds = 4;

long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

std::string metrics(uint16_t port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    auto res = c.Get("/metrics");
    return res && res->status == 200 ? res->body : "";
}

// Distinct cgroup="..." values under `prefix` among tracer_syscalls_total samples.
std::set<std::string> cgroups_on_page(const std::string& body, const std::string& prefix) {
    std::set<std::string> out;
    const std::string key = "tracer_syscalls_total{cgroup=\"" + prefix;
    for (size_t at = body.find(key); at != std::string::npos; at = body.find(key, at + 1)) {
        size_t start = at + std::string("tracer_syscalls_total{cgroup=\"").size();
        out.insert(body.substr(start, body.find('"', start) - start));
    }
    return out;
}

double gauge(const std::string& body, const std::string& series) {
    auto at = body.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(body.substr(at + series.size() + 2));
}

TEST(ManyCgroups, ThousandContainersComeAndGoWithBoundedState) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const auto& layout = tracer::fixtures::host_layout();
    auto keying = tracer::containers::choose_cgroup_keying(layout, "auto", "/proc/cgroups");
    const tracer::containers::CgroupMount* mount =
        keying.hierarchy == "unified" ? layout.unified() : layout.v1_controller(keying.hierarchy);
    ASSERT_NE(mount, nullptr);
    TestCgroup parent("many");
    const std::string base = parent.dir(*mount) + "/docker";
    const std::string base_path = parent.path(*mount) + "/docker/";
    ASSERT_EQ(mkdir(base.c_str(), 0755), 0) << base;

    std::string config = "/tmp/tracer-many-" + std::to_string(getpid()) + ".yaml";
    std::ofstream(config) << "docker_socket: \"\"\ntop_cgroups: 0\n";  // names are looked up, none found
    uint16_t port = tracer::fixtures::free_tcp_port();
    // As shipped: tracer caps glibc's malloc arenas itself (see run_agent).
    unsetenv("MALLOC_ARENA_MAX");
    Subprocess tracer({TRACER_BINARY, "run", "-c", config, "--interval", "1", "--metrics-addr",
                       "127.0.0.1:" + std::to_string(port)});
    for (int i = 0; i < 200 && metrics(port).empty() && tracer.running(); ++i) std::this_thread::sleep_for(100ms);
    ASSERT_FALSE(metrics(port).empty()) << tracer.output();

    std::vector<long> rss;
    for (int round = 0; round < kRounds; ++round) {
        std::vector<std::string> dirs;
        for (int i = 0; i < kCgroups; ++i) {
            char id[65];
            std::snprintf(id, sizeof id, "%08x%056x", round, i);  // 64 hex digits: a Docker container id
            dirs.push_back(base + "/" + id);
            ASSERT_EQ(mkdir(dirs.back().c_str(), 0755), 0) << dirs.back();
        }
        // One child visits every cgroup (moving itself), making syscalls in each.
        HeldChild child([&] {
            for (const auto& d : dirs) {
                int fd = open((d + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
                if (fd < 0 || write(fd, "0", 1) != 1) _exit(1);
                close(fd);
                for (int k = 0; k < 10; ++k) syscall(SYS_getppid);
            }
            int fd = open((parent.dir(*mount) + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "0", 1) != 1) _exit(1);
            _exit(0);
        });
        child.release();
        ASSERT_EQ(child.wait(), 0);
        std::this_thread::sleep_for(2500ms);  // two intervals: every cgroup read and named
        auto body = metrics(port);
        auto seen = cgroups_on_page(body, base_path);
        EXPECT_GE(seen.size(), size_t(kCgroups) * 9 / 10) << "round " << round;
        EXPECT_LE(gauge(body, "tracer_cgroups_tracked"), 1000) << "max_cgroups bounds the series";
        rss.push_back(rss_kib(tracer.pid()));
        std::printf("round %d: %zu cgroups on /metrics, last collection took %.1f ms\n", round, seen.size(),
                    gauge(body, "tracer_collection_duration_seconds") * 1e3);
        for (const auto& d : dirs) rmdir(d.c_str());
        // Gone: noticed (rmdir records) and their series dropped two intervals later.
        std::this_thread::sleep_for(3500ms);
    }
    auto body = metrics(port);
    EXPECT_EQ(cgroups_on_page(body, base_path).size(), 0u) << "series of removed cgroups are released";
    EXPECT_LT(gauge(body, "tracer_cgroups_tracked"), 100);
    // Memory: rounds 2..4 reuse what round 1 needed (4000 cgroups seen, never more than 1000 live).
    std::printf("tracer RSS after each round of %d cgroups (KiB):", kCgroups);
    for (long r : rss) std::printf(" %ld", r);
    std::printf("\n");
    ASSERT_EQ(rss.size(), size_t(kRounds));
    EXPECT_LT(rss.back(), rss[1] + 16 * 1024) << "tracer's memory grows with cgroups that are gone";
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(10s), 0) << tracer.output();
    rmdir(base.c_str());
    unlink(config.c_str());
}

}  // namespace
