// The Prometheus text format parser: types, help, labels with escapes,
// special values, suffixes joining their family, and bad lines reported.
#include "collectors/prometheus/prometheus_text_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

namespace tracer::collectors {
namespace {

TEST(PrometheusTextParser, FamiliesSamplesAndLabels) {
    auto p = parse_prometheus_text(
        "# HELP http_requests_total Requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"GET\",code=\"200\"} 1027 1395066363000\n"
        "http_requests_total{method=\"POST\",code=\"400\"} 3\n"
        "\n"
        "# A comment\n"
        "# TYPE rpc_seconds histogram\n"
        "rpc_seconds_bucket{le=\"0.1\"} 5\n"
        "rpc_seconds_bucket{le=\"+Inf\"} 9\n"
        "rpc_seconds_sum 1.5\n"
        "rpc_seconds_count 9\n"
        "temperature{room=\"a \\\"quoted\\\" \\\\ path\\nnext\"} -3.5e1\n"
        "up +Inf\n"
        "nan_metric NaN\n");
    EXPECT_TRUE(p.errors.empty()) << p.errors[0];
    ASSERT_EQ(p.families.size(), 5u);
    const auto& req = p.families[0];
    EXPECT_EQ(req.name, "http_requests_total");
    EXPECT_EQ(req.type, "counter");
    EXPECT_EQ(req.help, "Requests.");
    ASSERT_EQ(req.samples.size(), 2u);
    EXPECT_EQ(req.samples[0].labels, (metrics::Labels{{"method", "GET"}, {"code", "200"}}));
    EXPECT_EQ(req.samples[0].value, 1027);
    const auto& rpc = p.families[1];
    EXPECT_EQ(rpc.type, "histogram");
    ASSERT_EQ(rpc.samples.size(), 4u);
    EXPECT_EQ(rpc.samples[1].name, "rpc_seconds_bucket");
    EXPECT_EQ(rpc.samples[1].labels[0].value, "+Inf");
    EXPECT_EQ(rpc.samples[3].name, "rpc_seconds_count");
    const auto& temp = p.families[2];
    EXPECT_EQ(temp.type, "untyped");
    EXPECT_EQ(temp.samples[0].labels[0].value, "a \"quoted\" \\ path\nnext");
    EXPECT_EQ(temp.samples[0].value, -35);
    EXPECT_TRUE(std::isinf(p.families[3].samples[0].value));
    EXPECT_TRUE(std::isnan(p.families[4].samples[0].value));
}

TEST(PrometheusTextParser, BadLinesAreReportedWithTheirNumberAndSkipped) {
    auto p = parse_prometheus_text(
        "good 1\n"
        "bad{x=\"unterminated} 2\n"
        "# TYPE weird sometype\n"
        "novalue\n"
        "bad_value abc\n"
        "{x=\"1\"} 3\n"
        "also_good{a=\"b\",} 4\n");
    ASSERT_EQ(p.errors.size(), 5u);
    EXPECT_EQ(p.errors[0].rfind("line 2:", 0), 0u) << p.errors[0];
    EXPECT_NE(p.errors[1].find("unknown metric type 'sometype'"), std::string::npos);
    EXPECT_EQ(p.errors[2].rfind("line 4:", 0), 0u);
    EXPECT_EQ(p.errors[3].rfind("line 5:", 0), 0u);
    EXPECT_EQ(p.errors[4].rfind("line 6:", 0), 0u);
    size_t samples = 0;
    for (const auto& f : p.families) samples += f.samples.size();
    EXPECT_EQ(samples, 2u);
}

// Found by the prometheus_text_fuzz target: a page that ends right after a
// label's '=' (and spaces) made the parser read one byte past the page. The
// page is copied into a buffer of exactly its size so that ASan sees such a read.
TEST(PrometheusTextParser, APageEndingAfterALabelsEqualsSignIsABadLine) {
    for (std::string page : {"name{ed= ", "name{ed=", "name{ed =  ", "ok 1\nname{a=\"1\",b=\t"}) {
        auto exact = std::make_unique<char[]>(page.size());
        std::memcpy(exact.get(), page.data(), page.size());
        auto p = parse_prometheus_text(std::string_view(exact.get(), page.size()));
        ASSERT_EQ(p.errors.size(), 1u) << page;
        EXPECT_NE(p.errors[0].find("expected =\"value\" after label"), std::string::npos) << p.errors[0];
        size_t samples = 0;
        for (const auto& f : p.families) samples += f.samples.size();
        EXPECT_EQ(samples, page.rfind("ok 1", 0) == 0 ? 1u : 0u) << page;
    }
}

}  // namespace
}  // namespace tracer::collectors
