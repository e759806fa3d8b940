// memcached against a real memcached on a free loopback port.
#include "plugin_check.h"
#include "plugin_servers.h"

#include <libmemcached/memcached.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;
using fixtures::PluginUnderTest;
using fixtures::service_check_of;

using fixtures::memcached_server;

TEST(MemcachedPlugin, SetTimesNGivesCmdSetN) {
    auto server = memcached_server();
    if (auto why = server.skip_reason("memcached"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    PluginUnderTest plugin("memcached", "instances:\n  - url: 127.0.0.1\n    port: " + std::to_string(server.port()) +
                                            "\n    tags: [env:test]\n");
    auto r = plugin.run();
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "memcache.cmd_set_count"), 0);
    EXPECT_EQ(metric_of(r, "memcache.curr_items"), 0);

    constexpr int kSets = 7;
    memcached_st* memc = memcached_create(nullptr);
    memcached_server_add(memc, "127.0.0.1", server.port());
    for (int i = 0; i < kSets; ++i) {
        std::string key = "key" + std::to_string(i % 3), value = "v" + std::to_string(i);
        ASSERT_EQ(memcached_set(memc, key.data(), key.size(), value.data(), value.size(), 0, 0), MEMCACHED_SUCCESS);
    }
    size_t len = 0;
    uint32_t flags = 0;
    memcached_return_t rc;
    free(memcached_get(memc, "key0", 4, &len, &flags, &rc));      // a hit
    free(memcached_get(memc, "missing", 7, &len, &flags, &rc));   // a miss
    memcached_free(memc);

    r = plugin.run();
    EXPECT_EQ(metric_of(r, "memcache.cmd_set_count", {{"url", "127.0.0.1:" + std::to_string(server.port())}}), kSets);
    EXPECT_EQ(metric_of(r, "memcache.curr_items"), 3);
    EXPECT_EQ(metric_of(r, "memcache.get_hits_count"), 1);
    EXPECT_EQ(metric_of(r, "memcache.get_misses_count"), 1);
    EXPECT_EQ(metric_of(r, "memcache.get_hit_percent"), 50);
    EXPECT_GT(metric_of(r, "memcache.cmd_set_rate"), 0);  // derived from the two runs
    EXPECT_EQ(metric_of(r, "memcache.limit_maxbytes"), 16 << 20);
    EXPECT_EQ(service_check_of(r, "memcache.can_connect"), CheckStatus::Ok);
}

TEST(MemcachedPlugin, StoppedServerIsCriticalWithTheReason) {
    auto server = memcached_server();
    if (auto why = server.skip_reason("memcached"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    PluginUnderTest plugin("memcached", "instances:\n  - port: " + std::to_string(server.port()) + "\n    url: 127.0.0.1\n");
    EXPECT_EQ(service_check_of(plugin.run(), "memcache.can_connect"), CheckStatus::Ok);
    server.stop();
    std::string message;
    auto r = plugin.run();
    EXPECT_EQ(service_check_of(r, "memcache.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("cannot read stats from memcached at 127.0.0.1:" + std::to_string(server.port())),
              std::string::npos)
        << message;
    EXPECT_EQ(r.last_error, message);
}

// The check keeps its client between runs: the server counts one connection
// for all of them; a restart in between costs no failed run.
TEST(MemcachedPlugin, OneConnectionServesEveryRunAndARestartCostsNoFailedRun) {
    auto server = memcached_server();
    if (auto why = server.skip_reason("memcached"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    PluginUnderTest plugin("memcached", "instances:\n  - url: 127.0.0.1\n    port: " + std::to_string(server.port()) + "\n");
    // The server's readiness probe (a connection) is counted by the memcached
    // thread it was handed to, which may do so after a run's stats: count
    // once that has surely happened.
    auto settled = [&plugin] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return metric_of(plugin.run(), "memcache.total_connections_count");
    };
    plugin.run();
    double first = settled();
    double last = first;
    for (int i = 0; i < 5; ++i) last = metric_of(plugin.run(), "memcache.total_connections_count");
    EXPECT_EQ(last, first) << "the check connected again";

    server.stop();
    ASSERT_TRUE(server.start()) << server.output();
    auto r = plugin.run();
    std::string message;
    EXPECT_EQ(service_check_of(r, "memcache.can_connect", &message), CheckStatus::Ok) << message;
    EXPECT_EQ(r.errors, 0u);
    EXPECT_EQ(settled(), first) << "one connection since the restart";
}

}  // namespace
}  // namespace tracer::collectors
