// http_check against a real nginx on loopback, and a port that never answers.
#include "nginx_server.h"
#include "plugin_check.h"

#include <gtest/gtest.h>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;
using fixtures::PluginUnderTest;
using fixtures::service_check_of;

TEST(HttpCheckPlugin, StatusContentAndLatency) {
    fixtures::NginxServer nginx;
    if (auto why = nginx.skip_reason("nginx-light"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(nginx.start()) << nginx.output();
    nginx.put("health", "status: green\n");
    PluginUnderTest plugin("http_check",
                           "instances:\n"
                           "  - name: up\n    url: " + nginx.url("/health") + "\n    content_match: 'status: green'\n"
                           "  - name: wrong_content\n    url: " + nginx.url("/health") + "\n    content_match: red\n"
                           "  - name: not_found\n    url: " + nginx.url("/nothing") + "\n"
                           "  - name: expect_404\n    url: " + nginx.url("/nothing") + "\n    http_response_status_code: '404'\n"
                           "  - name: reverse\n    url: " + nginx.url("/health") + "\n    content_match: green\n"
                           "    reverse_content_match: true\n");
    plugin.runner().run_once();
    auto r = plugin.runner().reports();
    ASSERT_EQ(r.size(), 5u);
    std::string message;
    EXPECT_EQ(service_check_of(r[0], "http_check.can_connect"), CheckStatus::Ok);
    EXPECT_EQ(metric_of(r[0], "network.http.can_connect", {{"instance", "up"}, {"url", nginx.url("/health")}}), 1);
    EXPECT_GT(metric_of(r[0], "network.http.response_time"), 0);
    EXPECT_LT(metric_of(r[0], "network.http.response_time"), 5);
    EXPECT_EQ(service_check_of(r[1], "http_check.can_connect", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "content does not match red");
    EXPECT_EQ(metric_of(r[1], "network.http.cant_connect"), 1);
    EXPECT_EQ(service_check_of(r[2], "http_check.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("HTTP 404 does not match"), std::string::npos) << message;
    EXPECT_EQ(service_check_of(r[3], "http_check.can_connect"), CheckStatus::Ok);
    EXPECT_EQ(service_check_of(r[4], "http_check.can_connect", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "content matches green");
}

TEST(HttpCheckPlugin, ServerThatNeverAnswersTimesOutWithinTheDeadline) {
    fixtures::SilentServer silent;
    PluginUnderTest plugin("http_check", "instances:\n  - url: http://127.0.0.1:" + std::to_string(silent.port()) +
                                             "/\n    timeout: 0.5\n");
    auto r = plugin.run();
    std::string message;
    EXPECT_EQ(service_check_of(r, "http_check.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("Timeout was reached"), std::string::npos) << message;
    EXPECT_EQ(r.timeouts, 0u);  // libcurl gave up at the deadline: the run was not abandoned
    EXPECT_LT(r.last_duration, 1.0);
}

}  // namespace
}  // namespace tracer::collectors
