// The shared fixture for plugin tests: a real server on a free loopback port
// with its own directory, stopped and started again on the same port.
#include "server_process.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tracer::fixtures {

TEST(ServerProcess, StartsStopsAndRestartsOnTheSamePort) {
    ServerProcess memcached({"/usr/bin/memcached", "-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-u", "root",
                             "-P", "{dir}/memcached.pid"});
    if (auto why = memcached.skip_reason("memcached"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(memcached.start()) << memcached.output();
    uint16_t port = memcached.port();
    EXPECT_TRUE(accepts_tcp(port));
    EXPECT_TRUE(std::filesystem::exists(memcached.dir() + "/memcached.pid"));
    memcached.stop();
    EXPECT_FALSE(memcached.running());
    EXPECT_FALSE(accepts_tcp(port));
    ASSERT_TRUE(memcached.start()) << memcached.output();
    EXPECT_EQ(memcached.port(), port);
    EXPECT_TRUE(accepts_tcp(port));
}

TEST(ServerProcess, ExpandsPortAndDirInConfigFiles) {
    ServerProcess server({"/bin/true"});
    std::string path = server.write_file("conf/x.conf", "listen {port}; root {dir};");
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(text, "listen " + std::to_string(server.port()) + "; root " + server.dir() + ";");
}

TEST(ServerProcess, StartFailsWhenTheServerExits) {
    ServerProcess server({"/bin/false"});
    if (auto why = server.skip_reason(); !why.empty()) GTEST_SKIP() << why;
    EXPECT_FALSE(server.start());
    EXPECT_FALSE(server.running());
}

}  // namespace tracer::fixtures
