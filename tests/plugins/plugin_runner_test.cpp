// The plugin runner with checks written for the test (a counter, a sleeper,
// a failer): schedules, rates, tags, service checks, self-metrics, and that a
// hung check is abandoned and counted while flush() and the others go on.
#include "collectors/check_results.h"
#include "collectors/plugin_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

namespace tracer::collectors {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Each run reports a cumulative counter that grows by `step`.
class CountingCheck : public Check {
public:
    explicit CountingCheck(double step) : step_(step) {}
    void run(CheckRun& out) override {
        total_ += step_;
        out.gauge("test.level", 7, {{"kind", "level"}});
        out.monotonic_count("test.total", total_);
        out.rate("test.per_second", total_);
    }

private:
    double step_;
    double total_ = 0;
};

class SleepingCheck : public Check {
public:
    explicit SleepingCheck(std::chrono::milliseconds sleep, std::shared_ptr<std::atomic<int>> returned)
        : sleep_(sleep), returned_(std::move(returned)) {}
    void run(CheckRun& out) override {
        std::this_thread::sleep_for(sleep_);  // ignores its deadline, as a buggy check would
        ++*returned_;
        out.gauge("test.slept", 1);
    }

private:
    std::chrono::milliseconds sleep_;
    std::shared_ptr<std::atomic<int>> returned_;
};

class FailingCheck : public Check {
public:
    void run(CheckRun&) override { throw std::runtime_error("connection refused by 127.0.0.1:1"); }
};

// Two service checks of one name, one per backend (as haproxy.backend_up).
class PerBackendCheck : public Check {
public:
    void run(CheckRun& out) override {
        out.service_check("lb.backend_up", CheckStatus::Ok, "", {{"backend", "a"}});
        out.service_check("lb.backend_up", CheckStatus::Critical, "b is down", {{"backend", "b"}, {"env", "own"}});
    }
};

LoadedInstance instance(const std::string& plugin, std::shared_ptr<Check> check, double timeout = 5,
                        std::vector<std::string> tags = {}, double every = 0) {
    LoadedInstance i;
    i.config.plugin = plugin;
    i.config.tags = std::move(tags);
    i.config.timeout_seconds = timeout;
    i.config.min_collection_interval = every;
    i.check = std::move(check);
    return i;
}

const metrics::Family* family(const metrics::Snapshot& s, const std::string& name) {
    for (const auto& f : s)
        if (f.name == name) return &f;
    return nullptr;
}

double sample(const metrics::Snapshot& s, const std::string& name, const metrics::Labels& labels) {
    if (const auto* f = family(s, name))
        for (const auto& x : f->samples)
            if (x.labels == labels) return x.value;
    return -1;
}

TEST(RateDeriver, PerSecondBetweenRunsSkippingFirstRunAndResets) {
    RateDeriver d;
    auto t0 = Clock::now();
    auto run = [](double v) { return std::vector<ReportedMetric>{{"r", MetricKind::Rate, v, {{"a", "1"}}, ""}}; };
    auto first = run(100);
    d.derive(first, t0);
    EXPECT_TRUE(first.empty());  // nothing to compare with yet
    auto second = run(130);
    d.derive(second, t0 + 2s);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].kind, MetricKind::Gauge);
    EXPECT_DOUBLE_EQ(second[0].value, 15);  // 30 over 2 s
    auto reset = run(5);                    // the server restarted
    d.derive(reset, t0 + 3s);
    EXPECT_TRUE(reset.empty());
    auto after = run(25);
    d.derive(after, t0 + 7s);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_DOUBLE_EQ(after[0].value, 5);
    // Series are told apart by their labels.
    std::vector<ReportedMetric> other{{"r", MetricKind::Rate, 1000, {{"a", "2"}}, ""}};
    d.derive(other, t0 + 8s);
    EXPECT_TRUE(other.empty());
}

TEST(CheckResults, TagsJoinEverySampleAndTheMetricsOwnLabelsWin) {
    std::vector<ReportedMetric> run{{"m", MetricKind::Gauge, 1, {{"db", "db0"}, {"env", "own"}}, ""},
                                    {"m", MetricKind::Gauge, 2, {{"db", "db1"}}, ""},
                                    {"c", MetricKind::MonotonicCount, 3, {}, "bytes"}};
    metrics::Snapshot out;
    append_families(run, labels_from_tags({"env:prod", "team:db", "bare"}), out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].samples.size(), 2u);
    EXPECT_EQ(out[0].samples[0].labels,
              (metrics::Labels{{"bare", ""}, {"db", "db0"}, {"env", "own"}, {"team", "db"}}));
    EXPECT_EQ(out[1].type, metrics::MetricType::Counter);
    EXPECT_EQ(out[1].unit, "bytes");
}

TEST(PluginRunner, RunsOnScheduleWithTagsRatesServiceChecksAndSelfMetrics) {
    std::vector<LoadedInstance> list;
    list.push_back(instance("counting", std::make_shared<CountingCheck>(10), 5, {"env:test"}, 0.2));
    list.push_back(instance("failing", std::make_shared<FailingCheck>(), 5, {}, 0.2));
    PluginRunner runner(std::move(list), {{"bad.yaml", "bad.yaml: unknown plugin 'bad'"}}, {.agent_interval = 10});
    runner.start();
    // Three runs at least of each (the first at once, then every 0.2 s).
    auto end = Clock::now() + 10s;
    while (Clock::now() < end) {
        auto r = runner.reports();
        if (r[0].runs >= 3 && r[1].runs >= 3) break;
        std::this_thread::sleep_for(20ms);
    }
    metrics::Interval interval;
    runner.flush(interval);
    runner.stop();
    auto reports = runner.reports();
    ASSERT_GE(reports[0].runs, 3u);
    EXPECT_EQ(reports[0].id, "counting[0]");
    EXPECT_EQ(reports[0].errors, 0u);
    const auto& s = interval.families;
    EXPECT_EQ(sample(s, "test.level", {{"env", "test"}, {"kind", "level"}}), 7);
    EXPECT_GE(sample(s, "test.total", {{"env", "test"}}), 30);
    EXPECT_EQ(family(s, "test.total")->type, metrics::MetricType::Counter);
    // 10 per run, a run every 0.2 s: about 50/s (the schedule is not exact)
    double rate = sample(s, "test.per_second", {{"env", "test"}});
    EXPECT_GT(rate, 10);
    EXPECT_LT(rate, 200);
    // The failing instance: the error kept, can_connect critical with it, counted.
    EXPECT_GE(reports[1].errors, 3u);
    EXPECT_EQ(reports[1].last_error, "connection refused by 127.0.0.1:1");
    ASSERT_EQ(reports[1].service_checks.size(), 1u);
    EXPECT_EQ(reports[1].service_checks[0].name, "failing.can_connect");
    EXPECT_EQ(reports[1].service_checks[0].status, CheckStatus::Critical);
    bool ok_seen = false, critical_seen = false;
    for (const auto& sc : interval.service_checks) {
        if (sc.name == "counting.can_connect" && sc.status == 0 && sc.tags == std::vector<std::string>{"env:test"})
            ok_seen = true;
        if (sc.name == "failing.can_connect" && sc.status == 2 && sc.message.find("refused") != std::string::npos)
            critical_seen = true;
    }
    EXPECT_TRUE(ok_seen);
    EXPECT_TRUE(critical_seen);
    EXPECT_GE(sample(s, "tracer.plugin.errors", {{"instance", "failing[0]"}, {"plugin", "failing"}}), 3);
    EXPECT_GE(sample(s, "tracer.plugin.runs", {{"instance", "counting[0]"}, {"plugin", "counting"}}), 3);
    EXPECT_EQ(sample(s, "tracer.plugin.check_status",
                     {{"check", "failing.can_connect"}, {"instance", "failing[0]"}, {"plugin", "failing"}}),
              2);
    EXPECT_EQ(sample(s, "tracer.plugin.config_errors", {}), 1);
    // status(): one per instance plus the bad file
    auto status = runner.status();
    ASSERT_EQ(status.size(), 3u);
    EXPECT_TRUE(status[0].up);
    EXPECT_FALSE(status[1].up);
    EXPECT_EQ(status[1].detail, "connection refused by 127.0.0.1:1");
    EXPECT_EQ(status[2].name, "bad.yaml");
    // Service checks go out once: a second flush without new runs has none.
    metrics::Interval again;
    runner.flush(again);
    EXPECT_TRUE(again.service_checks.empty());
}

// A service check's own labels go out with it beside the instance's tags (its
// own win), and tell its tracer_plugin_check_status samples apart.
TEST(PluginRunner, ServiceChecksOfOneNameAreToldApartByTheirLabels) {
    std::vector<LoadedInstance> list;
    list.push_back(instance("lb", std::make_shared<PerBackendCheck>(), 5, {"env:test", "team:net"}));
    PluginRunner runner(std::move(list), {}, {.agent_interval = 10});
    runner.run_once();
    metrics::Interval interval;
    runner.flush(interval);
    std::map<std::vector<std::string>, int> sent;  // tags -> status
    for (const auto& sc : interval.service_checks)
        if (sc.name == "lb.backend_up") sent[sc.tags] = sc.status;
    EXPECT_EQ(sent, (std::map<std::vector<std::string>, int>{{{"backend:a", "env:test", "team:net"}, 0},
                                                             {{"backend:b", "env:own", "team:net"}, 2}}));
    const auto& s = interval.families;
    EXPECT_EQ(sample(s, "tracer.plugin.check_status",
                     {{"backend", "a"}, {"check", "lb.backend_up"}, {"instance", "lb[0]"}, {"plugin", "lb"}}),
              0);
    EXPECT_EQ(sample(s, "tracer.plugin.check_status",
                     {{"backend", "b"}, {"check", "lb.backend_up"}, {"env", "own"}, {"instance", "lb[0]"},
                      {"plugin", "lb"}}),
              2);
    EXPECT_EQ(sample(s, "tracer.plugin.check_status",
                     {{"check", "lb.can_connect"}, {"instance", "lb[0]"}, {"plugin", "lb"}}),
              0);
    // A backend down is what the instance monitors, not a fault of the agent:
    // its part of the plugins source stays up and names it.
    auto status = runner.status();
    ASSERT_EQ(status.size(), 1u);
    EXPECT_TRUE(status[0].up);
    EXPECT_EQ(status[0].detail, "lb.backend_up: b is down");
}

TEST(PluginRunner, HungCheckIsAbandonedCountedAndNeverDelaysFlushOrOthers) {
    auto returned = std::make_shared<std::atomic<int>>(0);
    std::vector<LoadedInstance> list;
    // Sleeps 4 s with a 0.2 s timeout: abandoned after 1.2 s.
    list.push_back(instance("sleepy", std::make_shared<SleepingCheck>(4000ms, returned), 0.2, {}, 0.3));
    list.push_back(instance("counting", std::make_shared<CountingCheck>(1), 5, {}, 0.1));
    PluginRunnerOptions options;
    options.workers = 1;  // one worker: only replacing the hung one lets the other instance go on
    PluginRunner runner(std::move(list), {}, options);
    runner.start();
    // flush() never waits for a run: time every flush while the sleeper hangs.
    auto worst = Clock::duration::zero();
    auto end = Clock::now() + 3s;
    while (Clock::now() < end) {
        auto t = Clock::now();
        metrics::Interval interval;
        runner.flush(interval);
        worst = std::max(worst, Clock::now() - t);
        std::this_thread::sleep_for(50ms);
    }
    auto reports = runner.reports();
    EXPECT_LT(worst, 100ms) << "flush waited for a run";
    EXPECT_EQ(reports[0].timeouts, 1u);  // the hung run, once; later due times are skipped
    EXPECT_GE(reports[0].skipped, 3u);
    EXPECT_EQ(*returned, 0);
    EXPECT_NE(reports[0].last_error.find("timed out"), std::string::npos) << reports[0].last_error;
    EXPECT_EQ(reports[0].worst(), CheckStatus::Critical);
    EXPECT_GE(reports[1].runs, 10u) << "the other instance was held up by the hung one";
    // Stopping does not wait for the hung thread: it is written off.
    auto t = Clock::now();
    runner.stop();
    EXPECT_LT(Clock::now() - t, 2s);
}

TEST(PluginRunner, RunOnceWaitsForEveryInstanceOrItsAbandonment) {
    auto returned = std::make_shared<std::atomic<int>>(0);
    std::vector<LoadedInstance> list;
    list.push_back(instance("counting", std::make_shared<CountingCheck>(5)));
    list.push_back(instance("sleepy", std::make_shared<SleepingCheck>(3000ms, returned), 0.1));
    PluginRunner runner(std::move(list), {}, {});
    auto t = Clock::now();
    runner.run_once();
    EXPECT_LT(Clock::now() - t, 2500ms);
    auto r = runner.reports();
    EXPECT_EQ(r[0].runs, 1u);
    EXPECT_TRUE(r[1].completed);
    EXPECT_EQ(r[1].timeouts, 1u);
    runner.run_once();  // the counter's second run derives its rate; the sleeper is still hung
    r = runner.reports();
    EXPECT_EQ(r[0].runs, 2u);
    bool has_rate = false;
    for (const auto& m : r[0].metrics) has_rate |= m.name == "test.per_second";
    EXPECT_TRUE(has_rate);
}

}  // namespace
}  // namespace tracer::collectors
