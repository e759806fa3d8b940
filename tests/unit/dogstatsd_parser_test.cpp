#include "statsd/dogstatsd_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tracer::statsd {
namespace {

ParsedLine parse(std::string_view line) {
    ParsedLine out;
    parse_line(line, out);
    return out;
}

ParseError error_of(std::string_view line) { return parse(line).error; }

std::vector<std::string> tags_of(std::string_view tags) {
    std::vector<std::string> out;
    TagIterator it(tags);
    std::string_view t;
    while (it.next(t)) out.emplace_back(t);
    return out;
}

TEST(DogStatsdParser, EveryMetricType) {
    struct Case {
        const char* line;
        MetricKind kind;
    } cases[] = {{"a:1|c", MetricKind::Counter},   {"a:1|g", MetricKind::Gauge},
                 {"a:1|ms", MetricKind::Timer},    {"a:1|h", MetricKind::Histogram},
                 {"a:1|d", MetricKind::Distribution}, {"a:xyz|s", MetricKind::Set}};
    for (const auto& c : cases) {
        auto p = parse(c.line);
        ASSERT_EQ(p.kind, LineKind::Metric) << c.line;
        EXPECT_EQ(p.metric.kind, c.kind) << c.line;
        EXPECT_EQ(p.metric.name, "a");
    }
}

TEST(DogStatsdParser, AllFieldsOfAMetric) {
    auto p = parse("page.views:2.5|c|@0.25|#env:prod,,web|c:abc123|T1700000000\r");
    ASSERT_EQ(p.kind, LineKind::Metric);
    EXPECT_EQ(p.metric.name, "page.views");
    EXPECT_EQ(p.metric.values, "2.5");
    EXPECT_DOUBLE_EQ(p.metric.sample_rate, 0.25);
    EXPECT_EQ(tags_of(p.metric.tags), (std::vector<std::string>{"env:prod", "web"}));
    EXPECT_EQ(p.metric.container_id, "abc123");
    EXPECT_EQ(p.metric.timestamp, 1700000000);
}

TEST(DogStatsdParser, PackedValuesAndGaugeDeltas) {
    auto p = parse("lat:1:2:3.5|d");
    ASSERT_EQ(p.kind, LineKind::Metric);
    std::vector<std::string> values;
    ValueIterator it(p.metric.values);
    std::string_view v;
    while (it.next(v)) values.emplace_back(v);
    EXPECT_EQ(values, (std::vector<std::string>{"1", "2", "3.5"}));
    EXPECT_EQ(parse("g:+5|g").kind, LineKind::Metric);
    EXPECT_EQ(parse("g:-5|g").kind, LineKind::Metric);
}

TEST(DogStatsdParser, UnknownFieldsAreSkipped) {
    auto p = parse("a:1|c|x:future|#t");
    ASSERT_EQ(p.kind, LineKind::Metric);
    EXPECT_EQ(p.metric.tags, "t");
    EXPECT_EQ(parse("a:1|c|").kind, LineKind::Metric);
}

TEST(DogStatsdParser, MalformedMetricsHaveAReason) {
    EXPECT_EQ(error_of(":1|c"), ParseError::EmptyName);
    EXPECT_EQ(error_of("a|c"), ParseError::NoValue);
    EXPECT_EQ(error_of("a:|c"), ParseError::NoValue);
    EXPECT_EQ(error_of("a:1"), ParseError::NoType);
    EXPECT_EQ(error_of("a:1|"), ParseError::NoType);
    EXPECT_EQ(error_of("a:1|x"), ParseError::UnknownType);
    EXPECT_EQ(error_of("a:abc|c"), ParseError::BadValue);
    EXPECT_EQ(error_of("a:nan|c"), ParseError::BadValue);
    EXPECT_EQ(error_of("a:inf|g"), ParseError::BadValue);
    EXPECT_EQ(error_of("a:1:|c"), ParseError::BadValue);
    EXPECT_EQ(error_of("a:++1|g"), ParseError::BadValue);
    EXPECT_EQ(error_of("a:1|c|@0"), ParseError::BadSampleRate);
    EXPECT_EQ(error_of("a:1|c|@1.5"), ParseError::BadSampleRate);
    EXPECT_EQ(error_of("a:1|c|@x"), ParseError::BadSampleRate);
    EXPECT_EQ(error_of("a:1|c|Tsoon"), ParseError::BadTimestamp);
    EXPECT_EQ(error_of("tracer.syscalls:1|c"), ParseError::ReservedName);
    EXPECT_EQ(error_of("tracer_syscalls:1|c"), ParseError::ReservedName);
    EXPECT_EQ(error_of("tracer-x:1|g"), ParseError::ReservedName);
    EXPECT_EQ(parse("tracers.x:1|c").kind, LineKind::Metric);  // another namespace
    EXPECT_EQ(parse("tracer:1|c").kind, LineKind::Metric);
    EXPECT_EQ(parse("").kind, LineKind::Empty);
}

TEST(DogStatsdParser, Event) {
    auto p = parse("_e{5,11}:Title|line\\nbreak|d:1700000000|h:web1|k:agg|p:low|s:app|t:warning|#a:b,c|c:cid");
    ASSERT_EQ(p.kind, LineKind::Event) << reason_name(p.error);
    EXPECT_EQ(p.event.title, "Title");
    EXPECT_EQ(p.event.text, "line\\nbreak");
    EXPECT_EQ(p.event.timestamp, 1700000000);
    EXPECT_EQ(p.event.hostname, "web1");
    EXPECT_EQ(p.event.aggregation_key, "agg");
    EXPECT_EQ(p.event.priority, "low");
    EXPECT_EQ(p.event.source_type, "app");
    EXPECT_EQ(p.event.alert_type, "warning");
    EXPECT_EQ(p.event.tags, "a:b,c");
    EXPECT_EQ(p.event.container_id, "cid");
    // the text may hold '|': the lengths decide
    auto q = parse("_e{1,3}:T|a|b");
    ASSERT_EQ(q.kind, LineKind::Event);
    EXPECT_EQ(q.event.text, "a|b");
}

TEST(DogStatsdParser, MalformedEvents) {
    for (const char* line : {"_e{", "_e{5,3}:abc|def", "_e{x,1}:a|b", "_e{1,1}a|b", "_e{0,1}:|b", "_e{1,5}:a|b",
                             "_e{1,1}:ab|c", "_e{1,1}:a|bc", "_e{1,1}:a|b|p:urgent", "_e{1,1}:a|b|d:x"})
        EXPECT_EQ(error_of(line), ParseError::BadEvent) << line;
}

TEST(DogStatsdParser, ServiceCheck) {
    auto p = parse("_sc|db.up|2|d:1700000000|h:db1|#env:prod|c:cid|m:down | really");
    ASSERT_EQ(p.kind, LineKind::ServiceCheck) << reason_name(p.error);
    EXPECT_EQ(p.check.name, "db.up");
    EXPECT_EQ(p.check.status, 2);
    EXPECT_EQ(p.check.timestamp, 1700000000);
    EXPECT_EQ(p.check.hostname, "db1");
    EXPECT_EQ(p.check.tags, "env:prod");
    EXPECT_EQ(p.check.container_id, "cid");
    EXPECT_EQ(p.check.message, "down | really");
    for (const char* line : {"_sc|", "_sc|x", "_sc|x|4", "_sc||0", "_sc|x|-1", "_sc|x|1|d:y"})
        EXPECT_EQ(error_of(line), ParseError::BadServiceCheck) << line;
}

TEST(DogStatsdParser, LinesOfADatagram) {
    std::vector<std::string> lines;
    for_each_line("a:1|c\nb:2|g\n\nc:3|ms", [&](std::string_view l) { lines.emplace_back(l); });
    EXPECT_EQ(lines, (std::vector<std::string>{"a:1|c", "b:2|g", "", "c:3|ms"}));
}

}  // namespace
}  // namespace tracer::statsd
