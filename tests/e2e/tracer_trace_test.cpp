// `tracer trace` and the scheduling/process metrics of `tracer run`, end to
// end: the real binary, a workload in a cgroup of the test's own.
#include "containers/cgroup_layout.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;
using tracer::fixtures::wait_output;

namespace {

void exec_true(int n) {
    for (int i = 0; i < n; ++i) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", nullptr);
            _exit(127);
        }
        waitpid(p, nullptr, 0);
    }
}

class TracerEvents : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        mount_ = tracer::fixtures::auto_keying_mount();
        ASSERT_NE(mount_, nullptr);
    }
    const tracer::containers::CgroupMount* mount_ = nullptr;
};

}  // namespace

TEST_F(TracerEvents, TraceStreamsTheExecsOfOneCgroupAsJsonLines) {
    TestCgroup cg("trace");
    Subprocess trace({TRACER_BINARY, "trace", "--format", "json", "--events", "exec", "--cgroup", cg.path(*mount_)});
    ASSERT_TRUE(wait_output(trace, "Ctrl-C to stop", 20s)) << trace.output();
    exec_true(5);  // outside the cgroup: must not show up
    HeldChild child([] { exec_true(20); });
    cg.add(child.pid());
    child.release();
    ASSERT_EQ(child.wait(), 0);
    std::this_thread::sleep_for(500ms);  // events are drained every 100 ms
    auto t0 = std::chrono::steady_clock::now();
    trace.signal(SIGINT);
    EXPECT_EQ(trace.wait_for(5s), 0) << trace.output();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);

    std::istringstream lines(trace.output());
    std::string line;
    int execs = 0, others = 0;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] != '{') continue;  // log lines go to stderr, merged here
        bool ours = line.find("\"event\":\"exec\"") != std::string::npos &&
                    line.find("\"filename\":\"/bin/true\"") != std::string::npos &&
                    line.find("\"cgroup\":\"" + cg.path(*mount_) + "\"") != std::string::npos;
        (ours ? execs : others) += 1;
    }
    EXPECT_EQ(execs, 20) << trace.output();
    EXPECT_EQ(others, 0) << "only exec events of the chosen cgroup: " << trace.output();
}

TEST_F(TracerEvents, RunExportsSchedulingAndProcessMetricsPerCgroup) {
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer({TRACER_BINARY, "run", "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port)});
    ASSERT_TRUE(wait_output(tracer, "serving metrics", 20s)) << tracer.output();
    EXPECT_NE(tracer.output().find("sched probe attached"), std::string::npos) << tracer.output();
    EXPECT_NE(tracer.output().find("proc probe attached"), std::string::npos) << tracer.output();

    TestCgroup cg("run-sched");
    HeldChild child([] {
        exec_true(10);
        timespec a{}, b{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        do clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 300000000L);  // 0.3 s on CPU
    });
    cg.add(child.pid());
    child.release();
    ASSERT_EQ(child.wait(), 0);

    const std::string labels = "{cgroup=\"" + cg.path(*mount_) + "\"}";
    // The child exits 0.3 s after its last exec: wait for an interval that
    // has counted its exit too (the 10 and the child itself).
    std::string body = tracer::fixtures::scrape_metrics_until(port, "tracer_process_exits_total" + labels + " 11", 10s);
    ASSERT_FALSE(body.empty()) << "tracer_process_exits_total" << labels << " 11 never appeared\n" << tracer.output();
    auto value = [&](const std::string& series) { return tracer::fixtures::metric_value(body, series); };
    EXPECT_EQ(value("tracer_process_execs_total" + labels), 10);
    EXPECT_EQ(value("tracer_process_forks_total" + labels), 10);
    EXPECT_GE(value("tracer_cpu_seconds_total" + labels), 0.29);
    EXPECT_LT(value("tracer_cpu_seconds_total" + labels), 1.0);
    EXPECT_GE(value("tracer_context_switches_total{cgroup=\"" + cg.path(*mount_) + "\",kind=\"voluntary\"}"), 10);
    EXPECT_GE(value("tracer_runqueue_latency_seconds_count" + labels), 1);
    EXPECT_NE(body.find("tracer_events_dropped_total{ring=\"proc_events\"} 0"), std::string::npos);

    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
}
