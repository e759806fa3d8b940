// The php_fpm plugin against a real PHP-FPM pool behind a real Apache httpd
// (mod_proxy_fcgi), both started by the suite.
#include "tests/plugins/apache_server.h"
#include "tests/plugins/plugin_harness.h"
#include "plugin_check.h"
#include "server_process.h"

#include "config/agent_config.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;

constexpr const char* kPhpFpm = "/usr/sbin/php-fpm8.2";
constexpr int kChildren = 3;

struct PhpFpmPool {
    // The pool listens on a Unix socket (no stray TCP client adds to its
    // accepted connections); Apache httpd proxies /status and /ping to it.
    fixtures::ServerProcess server{{kPhpFpm, "-y", "{dir}/php-fpm.conf", "-F", "-n"},
                                   {.ready = [](const fixtures::ServerProcess& s) {
                                       return access((s.dir() + "/php-fpm.sock").c_str(), F_OK) == 0;
                                   }}};
    std::string skip_reason = server.skip_reason("php-fpm"), start_error;
    std::unique_ptr<ApacheServer> apache;

    PhpFpmPool() {
        if (skip_reason.empty() && geteuid() != 0) skip_reason = "needs root (the pool runs as www-data)";
        if (!skip_reason.empty()) return;
        server.write_file("php-fpm.conf", "[global]\npid = {dir}/php-fpm.pid\nerror_log = {dir}/php-fpm.log\n"
                                          "daemonize = no\n[tracer]\nuser = www-data\ngroup = www-data\n"
                                          "listen = {dir}/php-fpm.sock\nlisten.owner = www-data\nlisten.group = www-data\npm = static\npm.max_children = " +
                                              std::to_string(kChildren) + "\npm.status_path = /status\nping.path = /ping\n");
        chmod(server.dir().c_str(), 0755);  // Apache's workers (www-data) reach the socket in it
        if (!server.start()) {
            start_error = "php-fpm did not start: " + server.output();
            return;
        }
        const std::string mods = "/usr/lib/apache2/modules/";
        apache = std::make_unique<ApacheServer>(
            "<LocationMatch \"^/(status|ping)$\">\n  SetHandler \"proxy:unix:" + server.dir() +
                "/php-fpm.sock|fcgi://localhost\"\n</LocationMatch>\n",
            "LoadModule proxy_module " + mods + "mod_proxy.so\nLoadModule proxy_fcgi_module " + mods +
                "mod_proxy_fcgi.so\n");
        skip_reason = apache->skip_reason();
        start_error = apache->start_error();
    }
};

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
