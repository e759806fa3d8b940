// prometheus scraping a real /metrics endpoint: tracer's own server (the
// HTTP endpoint `tracer run` serves) with a snapshot the test controls.
#include "api/metrics_server.h"
#include "plugin_check.h"

#include <gtest/gtest.h>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;
using fixtures::PluginUnderTest;
using fixtures::service_check_of;

TEST(PrometheusPlugin, ScrapesWithPrefixFiltersAndLabelRenames) {
    metrics::LatestSnapshot latest;
    auto snap = std::make_shared<metrics::Snapshot>();
    snap->push_back({"app.requests", "", "Requests.", metrics::MetricType::Counter,
                     {{{{"code", "200"}, {"instance", "a"}}, 42, {}}, {{{"code", "500"}, {"instance", "a"}}, 3, {}}}});
    snap->push_back({"app.queue.depth", "", "Depth.", metrics::MetricType::Gauge, {{{{"queue", "q1"}}, 7, {}}}});
    metrics::Family hist{"app.latency", "seconds", "Latency.", metrics::MetricType::Histogram, {}};
    hist.samples.push_back({{}, 0, {{0.1, 1}, {5, 2, 0}, 1.25, 7}});
    snap->push_back(hist);
    snap->push_back({"app.internal", "", "Dropped by the filter.", metrics::MetricType::Gauge, {{{}, 1, {}}}});
    latest.publish(snap);
    api::MetricsServer server("127.0.0.1", 0, latest);
    server.start();
    std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics";
    PluginUnderTest plugin("prometheus", "instances:\n  - prometheus_url: " + url +
                                             "\n    namespace: svc\n    metrics: ['app_.*']\n"
                                             "    exclude_metrics: ['app_internal']\n"
                                             "    rename_labels: {instance: scraped_instance}\n");
    auto r = plugin.run();
    ASSERT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "svc.app_requests.count", {{"code", "200"}, {"scraped_instance", "a"}}), 42);
    EXPECT_EQ(metric_of(r, "svc.app_requests.count", {{"code", "500"}}), 3);
    EXPECT_EQ(metric_of(r, "svc.app_queue_depth", {{"queue", "q1"}}), 7);
    EXPECT_EQ(metric_of(r, "svc.app_latency_seconds.count"), 7);
    EXPECT_EQ(metric_of(r, "svc.app_latency_seconds.sum"), 1.25);
    EXPECT_EQ(metric_of(r, "svc.app_latency_seconds.bucket", {{"upper_bound", "0.1"}}), 5);
    EXPECT_EQ(metric_of(r, "svc.app_latency_seconds.bucket", {{"upper_bound", "+Inf"}}), 7);
    EXPECT_EQ(metric_of(r, "svc.app_internal"), -1);
    EXPECT_EQ(metric_of(r, "svc.tracer_build_info"), -1);  // not in metrics:
    EXPECT_EQ(metric_of(r, "prometheus.scrape.parse_errors"), 0);
    EXPECT_EQ(service_check_of(r, "svc.openmetrics.health"), CheckStatus::Ok);
    server.stop();
    std::string message;
    auto down = plugin.run();
    EXPECT_EQ(service_check_of(down, "svc.openmetrics.health", &message), CheckStatus::Critical);
    EXPECT_EQ(service_check_of(down, "prometheus.can_connect"), CheckStatus::Unknown) << "no second status check";
    EXPECT_NE(message.find(url), std::string::npos) << message;
}

}  // namespace
}  // namespace tracer::collectors
