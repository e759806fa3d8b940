#include "metrics/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

using namespace tracer::metrics;

namespace {

Family family(std::string name, std::string unit, MetricType type, std::string help = "") {
    return Family{std::move(name), std::move(unit), std::move(help), type, {}};
}

Sample sample(Labels labels, double value) { return Sample{std::move(labels), value, {}}; }

std::string render(const Snapshot& snapshot) {
    std::string out;
    render_prometheus_text(snapshot, out);
    return out;
}

std::string render_value(double v) {
    auto f = family("v", "", MetricType::Gauge);
    f.samples.push_back(sample({}, v));
    std::string out = render({f});
    const std::string prefix = "# TYPE v gauge\nv ";
    EXPECT_EQ(out.substr(0, prefix.size()), prefix);
    EXPECT_EQ(out.back(), '\n');
    return out.substr(prefix.size(), out.size() - prefix.size() - 1);
}

}  // namespace

TEST(PrometheusName, DerivesFromNameUnitAndType) {
    EXPECT_EQ(prometheus_name(family("tracer.syscalls", "", MetricType::Counter)), "tracer_syscalls_total");
    EXPECT_EQ(prometheus_name(family("tracer.syscall.duration", "seconds", MetricType::Histogram)),
              "tracer_syscall_duration_seconds");
    EXPECT_EQ(prometheus_name(family("tracer.build_info", "", MetricType::Gauge)), "tracer_build_info");
    EXPECT_EQ(prometheus_name(family("tracer.read", "bytes", MetricType::Counter)), "tracer_read_bytes_total");
}

TEST(PrometheusName, DoesNotRepeatSuffixes) {
    EXPECT_EQ(prometheus_name(family("tracer.cpu_seconds", "seconds", MetricType::Gauge)), "tracer_cpu_seconds");
    EXPECT_EQ(prometheus_name(family("tracer.events_total", "", MetricType::Counter)), "tracer_events_total");
    EXPECT_EQ(prometheus_name(family("tracer.cpu.seconds_total", "", MetricType::Counter)),
              "tracer_cpu_seconds_total");
}

TEST(PrometheusName, SanitizesCharacters) {
    EXPECT_EQ(prometheus_name(family("a-b/c d:e.f", "", MetricType::Gauge)), "a_b_c_d:e_f");
    EXPECT_EQ(prometheus_name(family("9lives", "", MetricType::Gauge)), "_9lives");
    EXPECT_EQ(prometheus_name(family("caf\xc3\xa9", "", MetricType::Gauge)), "caf__");
}

TEST(PrometheusText, Counter) {
    auto f = family("tracer.syscalls", "", MetricType::Counter, "Syscalls entered.");
    f.samples.push_back(sample({{"container", "web"}, {"syscall", "read"}}, 42));
    f.samples.push_back(sample({{"container", "db"}, {"syscall", "write"}}, 7));
    EXPECT_EQ(render({f}),
              "# HELP tracer_syscalls_total Syscalls entered.\n"
              "# TYPE tracer_syscalls_total counter\n"
              "tracer_syscalls_total{container=\"web\",syscall=\"read\"} 42\n"
              "tracer_syscalls_total{container=\"db\",syscall=\"write\"} 7\n");
}

TEST(PrometheusText, GaugeWithoutLabelsOrHelp) {
    auto f = family("tracer.build_info", "", MetricType::Gauge);
    f.samples.push_back(sample({}, 1));
    auto g = family("tracer.memory", "bytes", MetricType::Gauge, "Resident memory.");
    g.samples.push_back(sample({}, 0.5));
    EXPECT_EQ(render({f, g}),
              "# TYPE tracer_build_info gauge\n"
              "tracer_build_info 1\n"
              "# HELP tracer_memory_bytes Resident memory.\n"
              "# TYPE tracer_memory_bytes gauge\n"
              "tracer_memory_bytes 0.5\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulative) {
    auto f = family("tracer.syscall.duration", "seconds", MetricType::Histogram, "Syscall latency.");
    Sample s;
    s.labels = {{"syscall", "read"}};
    s.histogram.bounds = {1.024e-06, 0.001, 0.5, 1};
    s.histogram.counts = {3, 0, 5, 1, 2};  // last: overflow
    s.histogram.count = 11;
    s.histogram.sum = 2.25;
    f.samples.push_back(s);
    Sample bare;
    bare.histogram.bounds = {1};
    bare.histogram.counts = {0, 0};
    f.samples.push_back(bare);
    EXPECT_EQ(render({f}),
              "# HELP tracer_syscall_duration_seconds Syscall latency.\n"
              "# TYPE tracer_syscall_duration_seconds histogram\n"
              "tracer_syscall_duration_seconds_bucket{syscall=\"read\",le=\"1.024e-06\"} 3\n"
              "tracer_syscall_duration_seconds_bucket{syscall=\"read\",le=\"0.001\"} 3\n"
              "tracer_syscall_duration_seconds_bucket{syscall=\"read\",le=\"0.5\"} 8\n"
              "tracer_syscall_duration_seconds_bucket{syscall=\"read\",le=\"1\"} 9\n"
              "tracer_syscall_duration_seconds_bucket{syscall=\"read\",le=\"+Inf\"} 11\n"
              "tracer_syscall_duration_seconds_sum{syscall=\"read\"} 2.25\n"
              "tracer_syscall_duration_seconds_count{syscall=\"read\"} 11\n"
              "tracer_syscall_duration_seconds_bucket{le=\"1\"} 0\n"
              "tracer_syscall_duration_seconds_bucket{le=\"+Inf\"} 0\n"
              "tracer_syscall_duration_seconds_sum 0\n"
              "tracer_syscall_duration_seconds_count 0\n");
}

TEST(PrometheusText, HistogramInfiniteBoundIsNotDuplicated) {
    auto f = family("h", "", MetricType::Histogram);
    Sample s;
    s.histogram.bounds = {1, std::numeric_limits<double>::infinity()};
    s.histogram.counts = {1, 2, 0};
    s.histogram.count = 3;
    s.histogram.sum = 4;
    f.samples.push_back(s);
    EXPECT_EQ(render({f}),
              "# TYPE h histogram\n"
              "h_bucket{le=\"1\"} 1\n"
              "h_bucket{le=\"+Inf\"} 3\n"
              "h_sum 4\n"
              "h_count 3\n");
}

TEST(PrometheusText, EscapesHelpAndLabelValues) {
    auto f = family("g", "", MetricType::Gauge, "a \\ b\nc \"q\"");
    f.samples.push_back(sample({{"path", "C:\\x\n\"y\""}}, 1));
    EXPECT_EQ(render({f}),
              "# HELP g a \\\\ b\\nc \"q\"\n"
              "# TYPE g gauge\n"
              "g{path=\"C:\\\\x\\n\\\"y\\\"\"} 1\n");
}

TEST(PrometheusText, SanitizesLabelNames) {
    auto f = family("g", "", MetricType::Gauge);
    f.samples.push_back(sample({{"k8s.pod-name", "a"}, {"0day", "b"}, {"a:b", "c"}, {"", "d"}}, 1));
    EXPECT_EQ(render({f}),
              "# TYPE g gauge\n"
              "g{k8s_pod_name=\"a\",_0day=\"b\",a_b=\"c\",_=\"d\"} 1\n");
}

TEST(PrometheusText, EmptyFamiliesAreOmitted) {
    auto empty = family("tracer.nothing", "", MetricType::Counter, "Never seen.");
    auto f = family("tracer.something", "", MetricType::Counter);
    f.samples.push_back(sample({}, 3));
    EXPECT_EQ(render({empty, f, empty}),
              "# TYPE tracer_something_total counter\n"
              "tracer_something_total 3\n");
    EXPECT_EQ(render({}), "");
    EXPECT_EQ(render({empty}), "");
}

TEST(PrometheusText, CollidingNamesAreBothRendered) {
    auto a = family("x.y", "", MetricType::Gauge);
    a.samples.push_back(sample({}, 1));
    auto b = family("x_y", "", MetricType::Gauge);
    b.samples.push_back(sample({}, 2));
    EXPECT_EQ(render({a, b}), "# TYPE x_y gauge\nx_y 1\n# TYPE x_y gauge\nx_y 2\n");
}

TEST(PrometheusText, AppendsToExistingOutput) {
    auto f = family("g", "", MetricType::Gauge);
    f.samples.push_back(sample({}, 1));
    std::string out = "# prefix\n";
    render_prometheus_text({f}, out);
    EXPECT_EQ(out, "# prefix\n# TYPE g gauge\ng 1\n");
}

TEST(PrometheusText, Values) {
    EXPECT_EQ(render_value(0), "0");
    EXPECT_EQ(render_value(-0.0), "0");
    EXPECT_EQ(render_value(-17), "-17");
    EXPECT_EQ(render_value(0.5), "0.5");
    EXPECT_EQ(render_value(1e15), "1000000000000000");
    EXPECT_EQ(render_value(9007199254740991.0), "9007199254740991");       // 2^53 - 1
    EXPECT_EQ(render_value(18446744073709551616.0), "18446744073709551616");  // 2^64: exact, shortest
    EXPECT_EQ(render_value(1e300), "1e+300");
    EXPECT_EQ(render_value(0.1), "0.1");
    EXPECT_EQ(render_value(1.0 / 3), "0.3333333333333333");
    EXPECT_EQ(render_value(2.5e-9), "2.5e-09");
    EXPECT_EQ(render_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(render_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(render_value(std::nan("")), "NaN");
}

TEST(PrometheusText, ValuesRoundTrip) {
    for (double v : {0.1, 1.0 / 3, 123456.789, 6.02214076e23, 5e-324, 1.7976931348623157e308, -2.5e-9}) {
        EXPECT_EQ(std::strtod(render_value(v).c_str(), nullptr), v) << render_value(v);
    }
}

TEST(PrometheusText, LargeSnapshot) {
    auto f = family("tracer.syscalls", "", MetricType::Counter, "Syscalls.");
    for (int i = 0; i < 100000; ++i) f.samples.push_back(sample({{"syscall", std::to_string(i)}}, i));
    std::string out = render({f});
    size_t lines = 0;
    for (char c : out) lines += c == '\n';
    EXPECT_EQ(lines, 100002u);
    EXPECT_NE(out.find("tracer_syscalls_total{syscall=\"99999\"} 99999\n"), std::string::npos);
}

TEST(PrometheusText, SummaryHasQuantilesSumAndCount) {
    auto f = family("app.request.time", "", MetricType::Summary, "Request time.");
    Sample s;
    s.labels = {{"route", "/a"}};
    s.summary.quantiles = {{0.5, 12}, {0.95, 40.5}};
    s.summary.sum = 300;
    s.summary.count = 20;
    f.samples.push_back(s);
    EXPECT_EQ(render({f}),
              "# HELP app_request_time Request time.\n"
              "# TYPE app_request_time summary\n"
              "app_request_time{route=\"/a\",quantile=\"0.5\"} 12\n"
              "app_request_time{route=\"/a\",quantile=\"0.95\"} 40.5\n"
              "app_request_time_sum{route=\"/a\"} 300\n"
              "app_request_time_count{route=\"/a\"} 20\n");
}

TEST(PrometheusText, EmptyLabelValuesAreOmitted) {
    // A systemd service's container tags are empty: to Prometheus `image=""` is
    // no label at all, so the line leaves them out.
    auto f = family("tracer.syscalls", "", MetricType::Counter);
    f.samples.push_back(sample({{"cgroup", "/system.slice/ssh.service"}, {"container_name", ""}, {"syscall", "read"}}, 3));
    f.samples.push_back(sample({{"cgroup", ""}, {"container_name", ""}}, 1));
    EXPECT_EQ(render({f}),
              "# TYPE tracer_syscalls_total counter\n"
              "tracer_syscalls_total{cgroup=\"/system.slice/ssh.service\",syscall=\"read\"} 3\n"
              "tracer_syscalls_total 1\n");
}
