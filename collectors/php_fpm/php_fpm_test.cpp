// The php_fpm plugin against a real PHP-FPM pool behind a real Apache httpd
// (mod_proxy_fcgi), both started by the suite.
#include "tests/plugins/plugin_harness.h"
#include "plugin_check.h"
#include "plugin_servers.h"

#include "config/agent_config.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;

using fixtures::PhpFpmPool;
constexpr int kChildren = fixtures::kPhpFpmChildren;

class PhpFpmPlugin : public ::testing::Test {
protected:
    static void SetUpTestSuite() { pool_ = std::make_unique<PhpFpmPool>(); }
    static void TearDownTestSuite() { pool_.reset(); }
    void SetUp() override {
        if (!pool_->skip_reason.empty()) GTEST_SKIP() << pool_->skip_reason;
        ASSERT_EQ(pool_->start_error, "");
    }
    static std::string instance() {
        return "status_url: " + pool_->apache->url("/status") + "\nping_url: " + pool_->apache->url("/ping") + "\n";
    }
    static std::unique_ptr<PhpFpmPool> pool_;
};
std::unique_ptr<PhpFpmPool> PhpFpmPlugin::pool_;

const metrics::Labels kPool{{"pool", "tracer"}};

TEST_F(PhpFpmPlugin, RequestsRaiseAcceptedByExactlyTheirNumber) {
    auto check = make_check("php_fpm", instance());
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    ASSERT_NE(first.check("php_fpm.can_connect"), nullptr);
    EXPECT_EQ(first.check("php_fpm.can_connect")->status, CheckStatus::Ok);
    ASSERT_NE(first.check("php_fpm.can_ping"), nullptr);
    EXPECT_EQ(first.check("php_fpm.can_ping")->status, CheckStatus::Ok);
    EXPECT_EQ(first.value("php_fpm.processes.total", kPool), kChildren) << first.dump();
    // The status request itself is active (and the ping before it may not have
    // been marked finished yet).
    EXPECT_GE(first.value("php_fpm.processes.active", kPool).value_or(0), 1);
    EXPECT_EQ(first.value("php_fpm.processes.active", kPool).value_or(0) + first.value("php_fpm.processes.idle", kPool).value_or(0),
              kChildren);
    EXPECT_EQ(first.value("php_fpm.listen_queue.size", kPool), 0);
    EXPECT_EQ(first.value("php_fpm.requests.slow", kPool), 0);
    ASSERT_TRUE(first.value("php_fpm.requests.accepted", kPool));
    EXPECT_EQ(first.point("php_fpm.requests.accepted", kPool)->kind, collectors::MetricKind::MonotonicCount);

    constexpr int kRequests = 6;
    for (int i = 0; i < kRequests; ++i) ASSERT_EQ(http_get(pool_->apache->port(), "/ping"), 200);
    auto second = run_once(*check);
    ASSERT_EQ(second.error, "") << second.dump();
    // The pool counts a request when it accepts it: the N pings, the ping of
    // the check's second run, and its status request.
    EXPECT_EQ(*second.value("php_fpm.requests.accepted", kPool) - *first.value("php_fpm.requests.accepted", kPool),
              kRequests + 2);
}

TEST_F(PhpFpmPlugin, AnUnexpectedPingReplyFailsOnlyThePing) {
    auto check = make_check("php_fpm", instance() + "ping_reply: ready\n");
    auto run = run_once(*check);
    ASSERT_NE(run.check("php_fpm.can_ping"), nullptr);
    EXPECT_EQ(run.check("php_fpm.can_ping")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("php_fpm.can_ping")->message.find("the reply is not 'ready' but 'pong'"), std::string::npos)
        << run.check("php_fpm.can_ping")->message;
    EXPECT_EQ(run.check("php_fpm.can_connect")->status, CheckStatus::Ok);
    EXPECT_EQ(run.value("php_fpm.processes.total", kPool), kChildren);
}

TEST_F(PhpFpmPlugin, APageThatIsNotTheStatusIsCritical) {
    auto check = make_check("php_fpm", "status_url: " + pool_->apache->url("/server-status") + "\n");
    auto run = run_once(*check);
    ASSERT_NE(run.check("php_fpm.can_connect"), nullptr);
    EXPECT_EQ(run.check("php_fpm.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("php_fpm.can_connect")->message.find("not a PHP-FPM status page"), std::string::npos);
    EXPECT_TRUE(run.metrics.empty());
}

// The agent's own path: conf.d text -> loader (every key known) -> runner.
TEST_F(PhpFpmPlugin, RunsUnderTheAgentsRunner) {
    fixtures::PluginUnderTest plugin("php_fpm", "init_config:\ninstances:\n  - status_url: " + pool_->apache->url("/status") +
                                                    "\n    ping_url: " + pool_->apache->url("/ping") + "\n");
    auto report = plugin.run();
    EXPECT_EQ(report.last_error, "");
    EXPECT_EQ(fixtures::service_check_of(report, "php_fpm.can_connect"), CheckStatus::Ok);
    EXPECT_GE(fixtures::metric_of(report, "php_fpm.processes.total"), 0);
}

TEST(PhpFpmPluginConfig, ErrorsNameTheFileAndLine) {
    try {
        make_check("php_fpm", "tags: [x:y]\nping_reply: pong\n", "/etc/tracer/conf.d/php_fpm.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "/etc/tracer/conf.d/php_fpm.yaml:1: php_fpm instance 0: give 'status_url' or 'ping_url' (or both)");
    }
    EXPECT_THROW(make_check("php_fpm", "status_url: unix:///run/php/fpm.sock/status\n"), config::ConfigError);
}

// Last: it stops the pool the other tests use.
TEST_F(PhpFpmPlugin, ZAStoppedPoolIsCriticalWithTheReason) {
    auto check = make_check("php_fpm", instance());
    ASSERT_EQ(run_once(*check).error, "");
    pool_->server.stop();
    auto run = run_once(*check);
    ASSERT_NE(run.check("php_fpm.can_connect"), nullptr);
    EXPECT_EQ(run.check("php_fpm.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("php_fpm.can_connect")->message.find("HTTP 503"), std::string::npos)
        << run.check("php_fpm.can_connect")->message;
    EXPECT_EQ(run.check("php_fpm.can_ping")->status, CheckStatus::Critical);
    EXPECT_TRUE(run.metrics.empty());
}

}  // namespace
}  // namespace tracer::plugin_tests
