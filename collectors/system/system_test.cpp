// system against this host's own /proc: values the test can read itself.
#include "plugin_check.h"

#include <gtest/gtest.h>

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;

TEST(SystemPlugin, MemoryCoresLoopbackTrafficAndRootFilesystem) {
    fixtures::PluginUnderTest plugin("system", "instances:\n  - {}\n");
    auto r = plugin.run();
    ASSERT_EQ(r.last_error, "");
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    double total_kb = 0;
    meminfo >> key >> total_kb;
    EXPECT_EQ(metric_of(r, "system.mem.total"), total_kb * 1024);
    EXPECT_EQ(metric_of(r, "system.cpu.num_cores"), double(sysconf(_SC_NPROCESSORS_CONF)));
    EXPECT_GE(metric_of(r, "system.load.1"), 0);
    double lo_before = metric_of(r, "system.net.bytes_rcvd_count", {{"device", "lo"}});
    ASSERT_GE(lo_before, 0);
    // The second run has CPU percentages and rates.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = plugin.run();
    EXPECT_GE(metric_of(r, "system.cpu.idle"), 0);
    EXPECT_LE(metric_of(r, "system.cpu.idle"), 100);
    EXPECT_GE(metric_of(r, "system.net.bytes_rcvd", {{"device", "lo"}}), 0);
    // The root filesystem, unless it is a pseudo one (tmpfs/overlay: left out by design)
    struct statvfs st {};
    ASSERT_EQ(statvfs("/", &st), 0);
    double total = double(st.f_blocks) * double(st.f_frsize);
    bool found = false;
    for (const auto& m : r.metrics)
        if (m.name == "system.disk.total" && m.value == total) found = true;
    std::ifstream mounts("/proc/self/mounts");
    std::string line, root_type;
    while (std::getline(mounts, line)) {
        std::istringstream w(line);
        std::string dev, mnt, type;
        w >> dev >> mnt >> type;
        if (mnt == "/") root_type = type;
    }
    if (root_type != "overlay" && root_type != "tmpfs") {
        EXPECT_TRUE(found) << "root filesystem (" << root_type << ")";
    }
}

}  // namespace
}  // namespace tracer::collectors
