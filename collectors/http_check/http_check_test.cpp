// http_check against a real nginx on loopback, and a port that never answers.
#include "collectors/confd.h"
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
    auto r = plugin.run_all();
    ASSERT_EQ(r.size(), 5u);
    std::string message;
    EXPECT_EQ(service_check_of(r[0], "http.can_connect"), CheckStatus::Ok);
    EXPECT_EQ(metric_of(r[0], "network.http.can_connect", {{"instance", "up"}, {"url", nginx.url("/health")}}), 1);
    EXPECT_GT(metric_of(r[0], "network.http.response_time"), 0);
    EXPECT_LT(metric_of(r[0], "network.http.response_time"), 5);
    EXPECT_EQ(service_check_of(r[1], "http.can_connect", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "content does not match red");
    EXPECT_EQ(metric_of(r[1], "network.http.cant_connect"), 1);
    EXPECT_EQ(service_check_of(r[2], "http.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("HTTP 404 does not match"), std::string::npos) << message;
    EXPECT_EQ(service_check_of(r[3], "http.can_connect"), CheckStatus::Ok);
    EXPECT_EQ(service_check_of(r[4], "http.can_connect", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "content matches green");
}

// A response body is outside input. One line of 300 KB, a pattern whose
// repetition spans it, and one that backtracks exponentially in a
// backtracking engine: each is decided, none takes the agent down or holds
// its plugin thread (a run past its deadline would report nothing here).
TEST(HttpCheckPlugin, AHugeOneLineBodyAndABacktrackingPatternAreMatchedSafely) {
    fixtures::NginxServer nginx;
    if (auto why = nginx.skip_reason("nginx-light"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(nginx.start()) << nginx.output();
    nginx.put("big", "status: " + std::string(300000, 'x') + " ok");
    const std::string url = nginx.url("/big");
    PluginUnderTest plugin("http_check",
                           "instances:\n"
                           "  - name: spans\n    url: " + url + "\n    content_match: 'status: .* ok$'\n"
                           "  - name: absent\n    url: " + url + "\n    content_match: 'status.*fail'\n"
                           "  - name: backtracking\n    url: " + url + "\n    content_match: '(x+x+)+y'\n");
    auto r = plugin.run_all();
    ASSERT_EQ(r.size(), 3u);
    std::string message;
    EXPECT_EQ(service_check_of(r[0], "http.can_connect", &message), CheckStatus::Ok) << message;
    EXPECT_EQ(service_check_of(r[1], "http.can_connect", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "content does not match status.*fail");
    EXPECT_EQ(service_check_of(r[2], "http.can_connect", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "content does not match (x+x+)+y");
    for (const auto& report : r) EXPECT_EQ(report.timeouts, 0u);
}

// Patterns are RE2's: what it cannot offer (a back-reference) is a config
// error naming the key and RE2's reason, not a pattern that never matches.
TEST(HttpCheckPlugin, APatternRe2RefusesIsAConfigErrorNamingTheKey) {
    auto load = load_confd_text("instances:\n  - url: http://127.0.0.1:1/\n    content_match: '(a)\\1'\n",
                                "http_check.yaml", "http_check");
    ASSERT_EQ(load.problems.size(), 1u);
    const std::string& what = load.problems[0].message;
    EXPECT_NE(what.find("http_check.yaml:3"), std::string::npos) << what;
    EXPECT_NE(what.find("'content_match': '(a)\\1' is not a valid regular expression: invalid escape sequence"),
              std::string::npos)
        << what;
}

TEST(HttpCheckPlugin, ServerThatNeverAnswersTimesOutWithinTheDeadline) {
    fixtures::SilentServer silent;
    PluginUnderTest plugin("http_check", "instances:\n  - url: http://127.0.0.1:" + std::to_string(silent.port()) +
                                             "/\n    timeout: 0.5\n");
    auto r = plugin.run();
    std::string message;
    EXPECT_EQ(service_check_of(r, "http.can_connect", &message), CheckStatus::Critical);
    EXPECT_NE(message.find("Timeout was reached"), std::string::npos) << message;
    EXPECT_EQ(r.timeouts, 0u);  // libcurl gave up at the deadline: the run was not abandoned
    EXPECT_LT(r.last_duration, 1.0);
}

}  // namespace
}  // namespace tracer::collectors
