// redis against a real redis-server on a free loopback port with its own dir.
#include "plugin_check.h"
#include "plugin_servers.h"

#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include <regex>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;
using fixtures::PluginUnderTest;
using fixtures::service_check_of;

using fixtures::redis_server;

void command(uint16_t port, const std::string& password, const std::vector<std::string>& commands) {
    redisContext* c = redisConnect("127.0.0.1", port);
    ASSERT_TRUE(c && !c->err);
    if (!password.empty()) freeReplyObject(redisCommand(c, "AUTH %s", password.c_str()));
    for (const auto& cmd : commands) {
        auto* r = static_cast<redisReply*>(redisCommand(c, cmd.c_str()));
        ASSERT_TRUE(r) << cmd;
        ASSERT_NE(r->type, REDIS_REPLY_ERROR) << cmd << ": " << r->str;
        freeReplyObject(r);
    }
    redisFree(c);
}

TEST(RedisPlugin, ThreeKeysInDb0GiveRedisKeys3) {
    auto server = redis_server("s3cret");
    if (auto why = server.skip_reason("redis-server"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    command(server.port(), "s3cret", {"SET a 1", "SET b 2", "SET c 3", "EXPIRE c 1000", "SELECT 2", "SET d 4"});
    PluginUnderTest plugin("redis", "instances:\n  - host: 127.0.0.1\n    port: " + std::to_string(server.port()) +
                                        "\n    password: s3cret\n    tags: [env:test]\n");
    auto r = plugin.run();
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "redis.keys", {{"redis_db", "db0"}}), 3);
    EXPECT_EQ(metric_of(r, "redis.expires", {{"redis_db", "db0"}}), 1);
    EXPECT_EQ(metric_of(r, "redis.persist", {{"redis_db", "db0"}}), 2);
    EXPECT_EQ(metric_of(r, "redis.keys", {{"redis_db", "db2"}}), 1);
    EXPECT_EQ(metric_of(r, "redis.net.clients", {{"redis_port", std::to_string(server.port())}, {"redis_role", "master"}}),
              1);
    EXPECT_GT(metric_of(r, "redis.mem.used"), 0);
    EXPECT_EQ(service_check_of(r, "redis.can_connect"), CheckStatus::Ok);
    // Commands processed between two runs: the rate appears on the second run.
    double before = metric_of(r, "redis.net.commands_count");
    command(server.port(), "s3cret", {"PING", "PING", "PING"});
    r = plugin.run();
    double after = metric_of(r, "redis.net.commands_count");
    // the 3 PINGs + our AUTH, and the INFO of the plugin's first run (its
    // connection is kept: no second AUTH)
    EXPECT_EQ(after - before, 3 + 1 + 1);
    EXPECT_GT(metric_of(r, "redis.net.commands"), 0);
}

TEST(RedisPlugin, WrongPasswordIsCriticalWithRedisReason) {
    auto server = redis_server("right");
    if (auto why = server.skip_reason("redis-server"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    PluginUnderTest plugin("redis", "instances:\n  - host: 127.0.0.1\n    port: " + std::to_string(server.port()) +
                                        "\n    password: wrong\n");
    auto r = plugin.run();
    std::string message;
    EXPECT_EQ(service_check_of(r, "redis.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("AUTH refused"), std::string::npos) << message;
    EXPECT_NE(message.find("WRONGPASS"), std::string::npos) << message;
    EXPECT_EQ(message.find("wrong"), std::string::npos) << "the password is in the message: " << message;
    EXPECT_EQ(r.errors, 1u);
}

TEST(RedisPlugin, StoppedServerIsCriticalWithTheConnectError) {
    auto server = redis_server();
    if (auto why = server.skip_reason("redis-server"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    PluginUnderTest plugin("redis", "instances:\n  - host: 127.0.0.1\n    port: " + std::to_string(server.port()) + "\n");
    EXPECT_EQ(service_check_of(plugin.run(), "redis.can_connect"), CheckStatus::Ok);
    server.stop();
    std::string message;
    auto r = plugin.run();
    EXPECT_EQ(service_check_of(r, "redis.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
    EXPECT_TRUE(r.metrics.empty());
    ASSERT_TRUE(server.start()) << server.output();
    EXPECT_EQ(service_check_of(plugin.run(), "redis.can_connect"), CheckStatus::Ok);
}

// The server's own count of connections it accepted.
double connections_received(uint16_t port, const std::string& password) {
    redisContext* c = redisConnect("127.0.0.1", port);
    if (!c || c->err) return -1;
    freeReplyObject(redisCommand(c, "AUTH %s", password.c_str()));
    auto* r = static_cast<redisReply*>(redisCommand(c, "INFO stats"));
    double n = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        std::smatch m;
        std::string text(r->str, r->len);
        if (std::regex_search(text, m, std::regex(R"(total_connections_received:(\d+))"))) n = std::stod(m[1]);
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

TEST(RedisPlugin, OneConnectionServesEveryRunAndARestartCostsNoFailedRun) {
    auto server = redis_server("s3cret");
    if (auto why = server.skip_reason("redis-server"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    PluginUnderTest plugin("redis", "instances:\n  - host: 127.0.0.1\n    port: " + std::to_string(server.port()) +
                                        "\n    password: s3cret\n");
    EXPECT_EQ(service_check_of(plugin.run(), "redis.can_connect"), CheckStatus::Ok);
    double before = connections_received(server.port(), "s3cret");
    ASSERT_GT(before, 0);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(service_check_of(plugin.run(), "redis.can_connect"), CheckStatus::Ok);
    // only our own INFO stats connection in between
    EXPECT_EQ(connections_received(server.port(), "s3cret") - before, 1) << "the check connected again";

    // A restart closes the kept connection: the next run connects again, within the run.
    server.stop();
    ASSERT_TRUE(server.start()) << server.output();
    std::string message;
    auto r = plugin.run();
    EXPECT_EQ(service_check_of(r, "redis.can_connect", &message), CheckStatus::Ok) << message;
    EXPECT_EQ(r.errors, 0u);
    EXPECT_GT(metric_of(r, "redis.mem.used"), 0);
}

TEST(RedisPlugin, TracerCheckRedisPrintsTheTableAndFailsWhenCritical) {
    auto server = redis_server();
    if (auto why = server.skip_reason("redis-server"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server.start()) << server.output();
    command(server.port(), "", {"SET a 1", "SET b 2", "SET c 3"});
    server.write_file("conf.d/redis.yaml", "instances:\n  - host: 127.0.0.1\n    port: {port}\n    tags: [env:cli]\n");
    fixtures::Subprocess check({TRACER_BINARY, "check", "redis", "--confd", server.dir() + "/conf.d"});
    ASSERT_EQ(check.wait_for(std::chrono::seconds(30)), 0) << check.output();
    std::string out = check.output();
    EXPECT_NE(out.find("=== redis[0] ==="), std::string::npos) << out;
    EXPECT_NE(out.find("status OK"), std::string::npos) << out;
    EXPECT_NE(out.find("METRIC"), std::string::npos) << out;
    // redis.keys   gauge   3   env:cli,redis_db:db0,...
    std::regex keys_row(R"(\n  redis\.keys +gauge +3  env:cli,redis_db:db0,redis_host:127\.0\.0\.1,redis_port:)" +
                        std::to_string(server.port()));
    EXPECT_TRUE(std::regex_search(out, keys_row)) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(redis\.can_connect +OK)"))) << out;

    fixtures::Subprocess json({TRACER_BINARY, "check", "redis", "--confd", server.dir() + "/conf.d", "--format", "json"});
    ASSERT_EQ(json.wait_for(std::chrono::seconds(30)), 0) << json.output();
    EXPECT_NE(json.output().find("\"name\": \"redis.keys\""), std::string::npos) << json.output();

    server.stop();
    fixtures::Subprocess down({TRACER_BINARY, "check", "redis", "--confd", server.dir() + "/conf.d"});
    EXPECT_EQ(down.wait_for(std::chrono::seconds(30)), 1) << down.output();
    EXPECT_TRUE(std::regex_search(down.output(), std::regex(R"(redis\.can_connect +CRITICAL +cannot connect)")))
        << down.output();

    fixtures::Subprocess unknown({TRACER_BINARY, "check", "reddis", "--confd", server.dir() + "/conf.d"});
    EXPECT_EQ(unknown.wait_for(std::chrono::seconds(30)), 2);
    EXPECT_NE(unknown.output().find("unknown plugin 'reddis'"), std::string::npos) << unknown.output();
}

}  // namespace
}  // namespace tracer::collectors
