// nginx against a real nginx with stub_status on a free loopback port.
#include "nginx_server.h"
#include "plugin_check.h"

#include <httplib.h>

#include <gtest/gtest.h>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;
using fixtures::PluginUnderTest;
using fixtures::service_check_of;

TEST(NginxPlugin, FiveRequestsRaiseRequestsByFive) {
    fixtures::NginxServer nginx;
    if (auto why = nginx.skip_reason("nginx-light"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(nginx.start()) << nginx.output();
    PluginUnderTest plugin("nginx", "instances:\n  - nginx_status_url: " + nginx.url("/nginx_status") +
                                        "\n    tags: [env:test]\n");
    auto r = plugin.run();
    ASSERT_EQ(r.last_error, "");
    double before = metric_of(r, "nginx.requests.total_count",
                              {{"nginx_host", "127.0.0.1"}, {"port", std::to_string(nginx.port())}});
    ASSERT_GE(before, 1);
    httplib::Client client("127.0.0.1", nginx.port());
    for (int i = 0; i < 5; ++i) {
        auto res = client.Get("/index.html");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200);
    }
    r = plugin.run();
    // the 5 requests, plus this run's own request for the status page
    EXPECT_EQ(metric_of(r, "nginx.requests.total_count") - before, 5 + 1);
    EXPECT_GE(metric_of(r, "nginx.net.connections"), 1);  // the status request itself
    EXPECT_GE(metric_of(r, "nginx.net.writing"), 1);
    EXPECT_GT(metric_of(r, "nginx.net.request_per_s"), 0);
    EXPECT_EQ(metric_of(r, "nginx.net.conn_dropped_per_s"), 0);
    EXPECT_EQ(service_check_of(r, "nginx.can_connect"), CheckStatus::Ok);
}

// One connection for every run: nginx accepts the first run's and no other
// (its accepts counter is on the page each run reads); after a restart, which
// closes it, the next run connects again and succeeds.
TEST(NginxPlugin, RunsKeepTheirConnectionAndReconnectAfterARestart) {
    fixtures::NginxServer nginx;
    if (auto why = nginx.skip_reason("nginx-light"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(nginx.start()) << nginx.output();
    PluginUnderTest plugin("nginx", "instances:\n  - nginx_status_url: " + nginx.url("/nginx_status") + "\n");
    auto first = plugin.run();
    ASSERT_EQ(first.last_error, "");
    const double accepted = metric_of(first, "nginx.connections.accepted_count");
    for (int i = 0; i < 3; ++i) {
        auto r = plugin.run();
        ASSERT_EQ(r.last_error, "");
        EXPECT_EQ(metric_of(r, "nginx.connections.accepted_count"), accepted) << "run " << i + 2 << " connected anew";
    }
    nginx.stop();
    ASSERT_TRUE(nginx.start()) << nginx.output();
    auto after = plugin.run();
    EXPECT_EQ(after.last_error, "");
    EXPECT_EQ(service_check_of(after, "nginx.can_connect"), CheckStatus::Ok);
    // the new nginx counts what the first one had after the first run: the
    // fixture's readiness probe and the check's one connection
    EXPECT_EQ(metric_of(after, "nginx.connections.accepted_count"), accepted);
}

TEST(NginxPlugin, NotAStatusPageOrStoppedServerIsCritical) {
    fixtures::NginxServer nginx;
    if (auto why = nginx.skip_reason("nginx-light"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(nginx.start()) << nginx.output();
    PluginUnderTest plugin("nginx", "instances:\n  - nginx_status_url: " + nginx.url("/index.html") + "\n"
                                    "  - nginx_status_url: " + nginx.url("/missing") + "\n");
    std::string message;
    EXPECT_EQ(service_check_of(plugin.run(0), "nginx.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("not an nginx stub_status page"), std::string::npos) << message;
    EXPECT_EQ(service_check_of(plugin.runner().reports()[1], "nginx.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("HTTP 404"), std::string::npos) << message;
    nginx.stop();
    EXPECT_EQ(service_check_of(plugin.run(0), "nginx.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("Couldn't connect to server"), std::string::npos) << message;
}

}  // namespace
}  // namespace tracer::collectors
