#include "metrics/output_sanitizer.h"
#include "metrics/prometheus_text.h"

#include <gtest/gtest.h>

#include <string>

using namespace tracer::metrics;

namespace {

Family gauge(std::string name, std::vector<Sample> samples = {{{}, 1, {}}}) {
    return Family{std::move(name), "", "help", MetricType::Gauge, std::move(samples)};
}

Sample with(Labels labels, double v = 1) { return Sample{std::move(labels), v, {}}; }

bool valid_utf8_without_controls(const std::string& s) {
    std::string copy = s;
    SanitizeReport r;
    return !sanitize_text(copy, s.size(), false, r, "");
}

std::string render(const Snapshot& s) {
    std::string out;
    render_prometheus_text(s, out);
    return out;
}

}  // namespace

TEST(OutputSanitizer, PlainInputIsLeftAlone) {
    Snapshot s{gauge("tracer.x", {with({{"cgroup", "/a"}, {"syscall", "read"}}), with({{"cgroup", "/b"}})})};
    const Snapshot before = s;
    SanitizeReport r = sanitize_snapshot(s);
    for (auto c : r.counts) EXPECT_EQ(c, 0u);
    ASSERT_EQ(s.size(), 1u);
    ASSERT_EQ(s[0].samples.size(), 2u);
    EXPECT_EQ(s[0].samples[0].labels, before[0].samples[0].labels);
    EXPECT_EQ(s[0].samples[1].labels, before[0].samples[1].labels);
}

TEST(OutputSanitizer, InvalidUtf8AndControlsBecomeReplacementCharacters) {
    Snapshot s{gauge("app.x\xff", {with({{"k", "v\xff"}, {"q", "a\nb\x01" "c"}, {"ok", "caf\xc3\xa9"}})})};
    SanitizeReport r = sanitize_snapshot(s);
    EXPECT_EQ(s[0].name, "app.x\xef\xbf\xbd");
    const Labels& l = s[0].samples[0].labels;
    EXPECT_EQ(l[0].value, "v\xef\xbf\xbd");
    EXPECT_EQ(l[1].value, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
    EXPECT_EQ(l[2].value, "caf\xc3\xa9");  // valid UTF-8 stays
    EXPECT_EQ(r.count(Rewrite::InvalidUtf8), 2u);
    EXPECT_EQ(r.count(Rewrite::ControlCharacter), 1u);
}

TEST(OutputSanitizer, RejectsOverlongSurrogatesAndTruncatedSequences) {
    for (std::string bad : {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80", "\xf8\x88\x80\x80\x80"}) {
        std::string s = "a" + bad;
        SanitizeReport r;
        EXPECT_TRUE(sanitize_text(s, 100, false, r, "")) << s;
        EXPECT_TRUE(valid_utf8_without_controls(s));
        EXPECT_EQ(r.count(Rewrite::InvalidUtf8), 1u);
    }
    std::string four = "\xf0\x9f\x98\x80";  // U+1F600
    SanitizeReport r;
    EXPECT_FALSE(sanitize_text(four, 100, false, r, ""));
}

TEST(OutputSanitizer, CutsLongTextOnACharacterBoundary) {
    std::string s(300, 'a');
    s.replace(254, 2, "\xc3\xa9");  // an é across the 255th byte
    SanitizeReport r;
    EXPECT_TRUE(sanitize_text(s, 255, false, r, ""));
    EXPECT_EQ(s.size(), 254u);
    EXPECT_EQ(r.count(Rewrite::Truncated), 1u);

    Snapshot snap{gauge(std::string(64 * 1024, 'n'), {with({{"k", std::string(64 * 1024, 'v')}})})};
    sanitize_snapshot(snap);
    EXPECT_EQ(snap[0].name.size(), SanitizeLimits{}.max_name_bytes);
    EXPECT_EQ(snap[0].samples[0].labels[0].value.size(), SanitizeLimits{}.max_label_value_bytes);
}

TEST(OutputSanitizer, LabelsThatPrometheusWouldSeeTwiceAreDropped) {
    Snapshot s{gauge("app.x", {with({{"a.b", "1"}, {"a_b", "2"}, {"", "3"}, {"__name__", "evil"}, {"c", "4"}})})};
    SanitizeReport r = sanitize_snapshot(s);
    const Labels& l = s[0].samples[0].labels;
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(l[0], (Label{"a.b", "1"}));
    EXPECT_EQ(l[1], (Label{"_name__", "evil"}));
    EXPECT_EQ(l[2], (Label{"c", "4"}));
    EXPECT_EQ(r.count(Rewrite::LabelDropped), 2u);
    EXPECT_EQ(r.count(Rewrite::LabelRenamed), 1u);
}

TEST(OutputSanitizer, ReservedLabelsOfHistogramsAndSummaries) {
    Family summary{"app.t", "", "", MetricType::Summary, {with({{"quantile", "x"}, {"k", "v"}})}};
    Family histogram{"app.h", "", "", MetricType::Histogram, {with({{"le", "x"}})}};
    Snapshot s{summary, histogram};
    SanitizeReport r = sanitize_snapshot(s);
    EXPECT_EQ(s[0].samples[0].labels, (Labels{{"k", "v"}}));
    EXPECT_TRUE(s[1].samples[0].labels.empty());
    EXPECT_EQ(r.count(Rewrite::LabelDropped), 2u);
}

TEST(OutputSanitizer, AtMostMaxLabelsPerSample) {
    Labels many;
    for (int i = 0; i < 10000; ++i) many.push_back({"t" + std::to_string(i), "v"});
    Snapshot s{gauge("app.x", {with(many)})};
    SanitizeReport r = sanitize_snapshot(s);
    EXPECT_EQ(s[0].samples[0].labels.size(), SanitizeLimits{}.max_labels);
    EXPECT_EQ(r.count(Rewrite::LabelDropped), 10000 - SanitizeLimits{}.max_labels);
}

TEST(OutputSanitizer, OneSeriesOnce) {
    // {a="1"} written three ways, and {a="1",b=""}: one Prometheus series
    Snapshot s{gauge("app.x", {with({{"a", "1"}}, 1), with({{"b", "2"}}, 2), with({{"a", "1"}, {"b", ""}}, 3),
                               with({{"b", "2"}, {"a", "1"}}, 4), with({{"a", "1"}, {"b", "2"}}, 5)})};
    SanitizeReport r = sanitize_snapshot(s);
    ASSERT_EQ(s[0].samples.size(), 3u);
    EXPECT_EQ(s[0].samples[0].value, 1);
    EXPECT_EQ(s[0].samples[1].value, 2);
    EXPECT_EQ(s[0].samples[2].value, 4);
    EXPECT_EQ(r.count(Rewrite::SeriesDropped), 2u);
}

TEST(OutputSanitizer, FamiliesWhosePrometheusNamesOverlap) {
    Family own{"tracer.syscalls", "", "Syscalls.", MetricType::Counter, {with({}, 7)}};
    Family same{"tracer_syscalls_total", "", "", MetricType::Gauge, {with({}, 1)}};
    Family summary{"app.t", "", "", MetricType::Summary, {with({})}};
    Family count{"app.t.count", "", "", MetricType::Gauge, {with({})}};  // app_t_count: the summary's
    Family empty{"", "", "", MetricType::Gauge, {with({})}};
    Family other_type{"app.t", "", "", MetricType::Counter, {with({})}};  // app_t_total: no overlap
    Snapshot s{own, same, summary, count, empty, other_type};
    SanitizeReport r = sanitize_snapshot(s);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].name, "tracer.syscalls");
    EXPECT_EQ(s[1].name, "app.t");
    EXPECT_EQ(s[1].type, MetricType::Summary);
    EXPECT_EQ(s[2].type, MetricType::Counter);
    EXPECT_EQ(r.count(Rewrite::FamilyDropped), 3u);
    const std::string text = render(s);
    EXPECT_EQ(text.find("# TYPE tracer_syscalls_total gauge"), std::string::npos) << text;
}

TEST(OutputSanitizer, ApplyAppendsItsGaugeAndCountsPerSnapshot) {
    OutputSanitizer sanitizer;
    for (int round = 0; round < 2; ++round) {
        Snapshot s{gauge("app.x", {with({{"k", "\xff"}})})};
        sanitizer.apply(s);
        ASSERT_EQ(s.back().name, "tracer.output.rewrites");
        bool seen = false;
        for (const auto& sample : s.back().samples)
            if (sample.labels[0].value == "invalid_utf8") {
                seen = true;
                EXPECT_EQ(sample.value, 1);
            }
        EXPECT_TRUE(seen);
    }
}

TEST(OutputSanitizer, EventsKeepNewlinesButNotInvalidBytes) {
    Event e;
    e.title = "t\xff";
    e.text = "line\nbreak";
    e.tags = {"k:\xc3"};
    SanitizeReport r;
    sanitize_event(e, r);
    EXPECT_EQ(e.title, "t\xef\xbf\xbd");
    EXPECT_EQ(e.text, "line\nbreak");
    EXPECT_EQ(e.tags[0], "k:\xef\xbf\xbd");
    EXPECT_EQ(r.count(Rewrite::InvalidUtf8), 2u);
}
