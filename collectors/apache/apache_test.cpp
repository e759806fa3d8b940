// The apache plugin against a real Apache httpd started by the suite.
#include "tests/plugins/plugin_harness.h"
#include "apache_server.h"
#include "plugin_check.h"

#include "config/agent_config.h"

#include <gtest/gtest.h>

#include <thread>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;
using fixtures::ApacheServer;

class ApachePlugin : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = std::make_unique<ApacheServer>(); }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override {
        if (!server_->skip_reason().empty()) GTEST_SKIP() << server_->skip_reason();
        ASSERT_EQ(server_->start_error(), "");
    }
    static std::unique_ptr<ApacheServer> server_;
};
std::unique_ptr<ApacheServer> ApachePlugin::server_;

TEST_F(ApachePlugin, RequestsRaiseTheHitCounterByExactlyTheirNumber) {
    auto check = make_check("apache", "apache_status_url: " + server_->url("/server-status"));
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    ASSERT_NE(first.check("apache.can_connect"), nullptr);
    EXPECT_EQ(first.check("apache.can_connect")->status, CheckStatus::Ok);
    auto hits0 = first.value("apache.net.hits");
    ASSERT_TRUE(hits0) << first.dump();
    EXPECT_EQ(first.value("apache.net.request_per_s"), hits0) << "the rate gets the same cumulative count";
    EXPECT_GT(first.value("apache.performance.uptime").value_or(-1), -1);
    // The event MPM: a fixed scoreboard, every slot counted once.
    double slots = 0;
    for (const auto& p : first.metrics)
        if (p.name.rfind("apache.scoreboard.", 0) == 0) slots += p.value;
    EXPECT_EQ(slots, first.value("apache.performance.max_workers"));
    EXPECT_GE(first.value("apache.performance.busy_workers").value_or(0), 1) << "the status request itself";

    constexpr int kRequests = 7;
    for (int i = 0; i < kRequests; ++i) ASSERT_EQ(http_get(server_->port(), "/index.html"), 200);

    // httpd counts a request once its answer is on the wire, so the last ones
    // may land a moment after the client has them: read again until the count
    // is complete. Every status read is itself a request counted afterwards.
    double delta = 0, expected = 0;
    for (int read = 1; read <= 100; ++read) {
        auto next = run_once(*check);
        ASSERT_EQ(next.error, "") << next.dump();
        delta = next.value("apache.net.hits").value_or(-1) - *hits0;
        expected = kRequests + read;  // the N requests + every earlier status read
        if (delta >= expected) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(delta, expected);
}

TEST_F(ApachePlugin, TheStatusPathGetsAutoAppended) {
    auto check = make_check("apache", "apache_status_url: " + server_->url("/server-status"));
    auto run = run_once(*check);
    ASSERT_EQ(run.error, "");
    EXPECT_TRUE(run.value("apache.net.bytes")) << run.dump();
    EXPECT_EQ(run.point("apache.net.bytes")->unit, "bytes");
}

TEST_F(ApachePlugin, APageWithoutStatusFieldsIsCritical) {
    auto check = make_check("apache", "apache_status_url: " + server_->url("/index.html"));
    auto run = run_once(*check);
    ASSERT_NE(run.check("apache.can_connect"), nullptr);
    EXPECT_EQ(run.check("apache.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("apache.can_connect")->message.find("no mod_status fields"), std::string::npos);
    EXPECT_NE(run.error, "");
}

TEST_F(ApachePlugin, AMissingPageIsCriticalWithTheHttpStatus) {
    auto check = make_check("apache", "apache_status_url: " + server_->url("/no-such-status"));
    auto run = run_once(*check);
    ASSERT_NE(run.check("apache.can_connect"), nullptr);
    EXPECT_EQ(run.check("apache.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("apache.can_connect")->message.find("HTTP 404"), std::string::npos)
        << run.check("apache.can_connect")->message;
}

TEST_F(ApachePlugin, AStoppedServerIsCriticalWithTheReason) {
    ApacheServer other;
    ASSERT_EQ(other.start_error(), "");
    auto check = make_check("apache", "apache_status_url: " + other.url("/server-status"));
    ASSERT_EQ(run_once(*check).error, "");
    other.stop();
    auto run = run_once(*check);
    ASSERT_NE(run.check("apache.can_connect"), nullptr);
    EXPECT_EQ(run.check("apache.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("apache.can_connect")->message.find("127.0.0.1:" + std::to_string(other.port())),
              std::string::npos)
        << run.check("apache.can_connect")->message;
    EXPECT_TRUE(run.metrics.empty()) << run.dump();
}

// The agent's own path: conf.d text -> loader (every key known) -> runner.
TEST_F(ApachePlugin, RunsUnderTheAgentsRunner) {
    fixtures::PluginUnderTest plugin("apache", "init_config:\ninstances:\n  - apache_status_url: " +
                                                   server_->url("/server-status") + "\n    tags: [role:web]\n");
    auto report = plugin.run();
    EXPECT_EQ(report.last_error, "");
    EXPECT_EQ(fixtures::service_check_of(report, "apache.can_connect"), CheckStatus::Ok);
    EXPECT_GE(fixtures::metric_of(report, "apache.performance.max_workers"), 0);
}

TEST(ApachePluginConfig, ErrorsNameTheFileAndLine) {
    try {
        make_check("apache", "tags: [a:b]\napache_status_url: ftp://x/\n", "/etc/tracer/conf.d/apache.yaml");
        FAIL() << "accepted an ftp URL";
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "/etc/tracer/conf.d/apache.yaml:2: apache instance 0: 'apache_status_url' must be an http:// or https:// URL");
    }
    EXPECT_THROW(make_check("apache", "tags: [a:b]\n"), config::ConfigError);
}

}  // namespace
}  // namespace tracer::plugin_tests
