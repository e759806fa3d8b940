// The haproxy plugin against a real HAProxy started by the suite: a frontend
// `fe` whose backend `be` forwards to a second frontend answering 200 itself,
// a stats socket and a stats page behind basic auth.
#include "tests/plugins/plugin_harness.h"
#include "plugin_check.h"
#include "plugin_servers.h"

#include "collectors/haproxy/haproxy.h"
#include "config/agent_config.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;

using fixtures::HaproxyServer;

class HaproxyPlugin : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = std::make_unique<HaproxyServer>(); }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override {
        if (!server_->skip_reason.empty()) GTEST_SKIP() << server_->skip_reason;
        ASSERT_EQ(server_->start_error, "");
    }
    static std::unique_ptr<HaproxyServer> server_;
};
std::unique_ptr<HaproxyServer> HaproxyPlugin::server_;

const metrics::Labels kFe{{"haproxy_service", "fe"}};
const metrics::Labels kBe{{"haproxy_service", "be"}};

TEST_F(HaproxyPlugin, RequestsThroughTheFrontendCountExactly) {
    auto check = make_check("haproxy", "url: unix://" + server_->socket());
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    ASSERT_NE(first.check("haproxy.can_connect"), nullptr);
    EXPECT_EQ(first.check("haproxy.can_connect")->status, CheckStatus::Ok);
    ASSERT_TRUE(first.value("haproxy.frontend.session.rate", kFe)) << first.dump();

    constexpr int kRequests = 5;
    for (int i = 0; i < kRequests; ++i) ASSERT_EQ(server_->request(), 200);
    // haproxy counts a stream's response when the stream ends, which can be
    // just after the client has read it: measure once no session is open.
    auto second = run_once(*check);
    auto open_sessions = [](const auto& run) { return run.value("haproxy.frontend.session.current", kFe); };
    for (int i = 0; i < 500 && second.error.empty() && open_sessions(second) != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        second = run_once(*check);
    }
    ASSERT_EQ(second.error, "") << second.dump();
    auto delta = [&](const std::string& name, const metrics::Labels& labels) {
        return second.value(name, labels).value_or(-1) - first.value(name, labels).value_or(-1);
    };
    EXPECT_EQ(delta("haproxy.frontend.session.rate", kFe), kRequests);
    EXPECT_EQ(delta("haproxy.frontend.requests.tot_rate", kFe), kRequests);
    EXPECT_EQ(delta("haproxy.frontend.response.2xx", kFe), kRequests);
    EXPECT_EQ(delta("haproxy.backend.session.rate", kBe), kRequests);
    EXPECT_EQ(delta("haproxy.backend.response.2xx", kBe), kRequests);
    EXPECT_GT(delta("haproxy.frontend.bytes.in.total", kFe), 0);
    EXPECT_EQ(second.value("haproxy.frontend.session.current", kFe), 0);
    EXPECT_EQ(second.point("haproxy.frontend.bytes.out.total", kFe)->kind, collectors::MetricKind::MonotonicCount);
    // Aggregates only by default: no server rows.
    EXPECT_FALSE(second.value("haproxy.backend.session.rate", {{"haproxy_service", "be"}, {"backend", "s1"}}));
}

TEST_F(HaproxyPlugin, TheStatsPageGivesTheSameCountersAsTheSocket) {
    setenv("TRACER_TEST_HAPROXY_PASSWORD", "s3cret", 1);
    auto page = make_check("haproxy", "url: http://127.0.0.1:" + std::to_string(server_->stats_port()) +
                                          "/stats\nusername: monitor\npassword_env: TRACER_TEST_HAPROXY_PASSWORD\n");
    auto socket = make_check("haproxy", "url: unix://" + server_->socket());
    ASSERT_EQ(server_->request(), 200);
    auto by_page = run_once(*page);
    auto by_socket = run_once(*socket);
    ASSERT_EQ(by_page.error, "") << by_page.dump();
    EXPECT_EQ(by_page.check("haproxy.can_connect")->status, CheckStatus::Ok);
    ASSERT_TRUE(by_page.value("haproxy.frontend.session.rate", kFe)) << by_page.dump();
    EXPECT_EQ(by_page.value("haproxy.frontend.session.rate", kFe), by_socket.value("haproxy.frontend.session.rate", kFe));
    EXPECT_EQ(by_page.value("haproxy.backend.response.2xx", kBe), by_socket.value("haproxy.backend.response.2xx", kBe));
}

TEST_F(HaproxyPlugin, AWrongPasswordIsCriticalWithTheHttpStatus) {
    auto page = make_check("haproxy", "url: http://127.0.0.1:" + std::to_string(server_->stats_port()) +
                                          "/stats\nusername: monitor\npassword: wrong\n");
    auto run = run_once(*page);
    ASSERT_NE(run.check("haproxy.can_connect"), nullptr);
    EXPECT_EQ(run.check("haproxy.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("haproxy.can_connect")->message.find("HTTP 401"), std::string::npos)
        << run.check("haproxy.can_connect")->message;
    EXPECT_EQ(run.check("haproxy.can_connect")->message.find("wrong"), std::string::npos) << "the password leaked";
    EXPECT_TRUE(run.metrics.empty());
}

TEST_F(HaproxyPlugin, ServerRowsAndStatusCounts) {
    auto check = make_check("haproxy", "url: unix://" + server_->socket() +
                                           "\ncollect_aggregates_only: false\ncollect_status_metrics: true\n");
    // s2 is down once its health checks have failed twice (100 ms apart).
    RecordingCheckRun run(std::chrono::steady_clock::now());
    for (int i = 0; i < 100; ++i) {
        run = run_once(*check);
        ASSERT_EQ(run.error, "") << run.dump();
        if (run.value("haproxy.count_per_status", {{"haproxy_service", "be"}, {"status", "down"}}) == 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(run.value("haproxy.count_per_status", {{"haproxy_service", "be"}, {"status", "down"}}), 1) << run.dump();
    EXPECT_EQ(run.value("haproxy.count_per_status", {{"haproxy_service", "be"}, {"status", "up"}}), 1);
    EXPECT_EQ(run.value("haproxy.count_per_status", {{"haproxy_service", "fe"}, {"status", "open"}}), 1);
    EXPECT_EQ(run.value("haproxy.backend_hosts", {{"haproxy_service", "be"}, {"available", "true"}}), 1);
    EXPECT_EQ(run.value("haproxy.backend_hosts", {{"haproxy_service", "be"}, {"available", "false"}}), 1);
    // The server rows, under haproxy.backend.* with the server's name.
    auto s1 = run.value("haproxy.backend.session.rate", {{"haproxy_service", "be"}, {"backend", "s1"}});
    auto be = run.value("haproxy.backend.session.rate", kBe);
    ASSERT_TRUE(s1 && be) << run.dump();
    EXPECT_EQ(*s1, *be) << "s2 is a backup: every session of be went to s1";
}

// Datadog's opt-in haproxy.backend_up: one per server and backend, tagged
// with them; s1 (checked, answering) OK, s2 (checked, nothing listens) CRITICAL
// once its checks failed, the backends be and stats (a `listen` section)
// themselves OK; none for the frontends.
TEST_F(HaproxyPlugin, BackendUpIsOneServiceCheckPerServerAndBackend) {
    auto off = run_once(*make_check("haproxy", "url: unix://" + server_->socket()));
    EXPECT_EQ(off.check("haproxy.backend_up"), nullptr) << "off by default, as Datadog's";

    auto check = make_check("haproxy", "url: unix://" + server_->socket() + "\nenable_service_check: true\n");
    auto status_of = [](const RecordingCheckRun& run, const std::string& service, const std::string& server) {
        const collectors::ReportedServiceCheck* found = nullptr;
        for (const auto& sc : run.service_checks) {
            metrics::Labels want{{"backend", server}, {"haproxy_service", service}}, got = sc.labels;
            std::sort(got.begin(), got.end());
            if (sc.name == "haproxy.backend_up" && got == want) {
                EXPECT_EQ(found, nullptr) << service << ":" << server << " reported twice";
                found = &sc;
            }
        }
        return found;
    };
    RecordingCheckRun run(std::chrono::steady_clock::now());
    for (int i = 0; i < 100; ++i) {  // s2 is down once two checks 100 ms apart failed
        run = run_once(*check);
        ASSERT_EQ(run.error, "") << run.dump();
        auto s2 = status_of(run, "be", "s2");
        if (s2 && s2->status == CheckStatus::Critical) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto s1 = status_of(run, "be", "s1"), s2 = status_of(run, "be", "s2"), be = status_of(run, "be", "BACKEND");
    ASSERT_TRUE(s1 && s2 && be);
    EXPECT_EQ(s1->status, CheckStatus::Ok);
    EXPECT_EQ(s1->message, "");
    EXPECT_EQ(s2->status, CheckStatus::Critical);
    EXPECT_EQ(s2->message, "haproxy reported be:s2 DOWN");
    EXPECT_EQ(be->status, CheckStatus::Ok) << "s1 serves be";
    ASSERT_TRUE(status_of(run, "stats", "BACKEND"));
    EXPECT_EQ(status_of(run, "stats", "BACKEND")->status, CheckStatus::Ok);
    size_t reported = 0;
    for (const auto& sc : run.service_checks) {
        if (sc.name != "haproxy.backend_up") continue;
        ++reported;
        for (const auto& l : sc.labels) EXPECT_NE(l.value, "fe") << "a frontend has no backend_up";
    }
    EXPECT_EQ(reported, 4u);
    EXPECT_EQ(run.check("haproxy.can_connect")->status, CheckStatus::Ok);
}

TEST_F(HaproxyPlugin, AStoppedServerIsCriticalWithTheReason) {
    auto gone = make_check("haproxy", "url: unix://" + server_->server.dir() + "/no-such.sock");
    auto run = run_once(*gone);
    ASSERT_NE(run.check("haproxy.can_connect"), nullptr);
    EXPECT_EQ(run.check("haproxy.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("haproxy.can_connect")->message.find("No such file or directory"), std::string::npos)
        << run.check("haproxy.can_connect")->message;

    auto refused = make_check("haproxy", "url: tcp://127.0.0.1:" + std::to_string(fixtures::free_tcp_port()));
    run = run_once(*refused);
    ASSERT_NE(run.check("haproxy.can_connect"), nullptr);
    EXPECT_EQ(run.check("haproxy.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("haproxy.can_connect")->message.find("Connection refused"), std::string::npos)
        << run.check("haproxy.can_connect")->message;
}

// The agent's own path: conf.d text -> loader (every key known) -> runner.
TEST_F(HaproxyPlugin, RunsUnderTheAgentsRunner) {
    fixtures::PluginUnderTest plugin("haproxy", "init_config:\ninstances:\n  - url: unix://" + server_->socket() +
                                                    "\n    collect_status_metrics: true\n");
    auto report = plugin.run();
    EXPECT_EQ(report.last_error, "");
    EXPECT_EQ(fixtures::service_check_of(report, "haproxy.can_connect"), CheckStatus::Ok);
    EXPECT_GE(fixtures::metric_of(report, "haproxy.count_per_status"), 0);
}

TEST(HaproxyPluginConfig, ErrorsNameTheFileAndLine) {
    try {
        make_check("haproxy", "url: ftp://x\n", "/etc/tracer/conf.d/haproxy.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("/etc/tracer/conf.d/haproxy.yaml:1: haproxy instance 0: 'url' must be"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(make_check("haproxy", "url: unix:///x\ncollect_status_metrics: maybe\n"), config::ConfigError);
}

}  // namespace
}  // namespace tracer::plugin_tests
