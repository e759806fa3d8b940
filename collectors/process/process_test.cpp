// process against real child processes the test starts.
#include "fixtures.h"
#include "plugin_check.h"

#include <gtest/gtest.h>

#include <thread>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;

TEST(ProcessPlugin, CountsTheMatchingProcesses) {
    std::string marker = std::to_string(100000 + getpid() % 100000) + ".25";  // a unique sleep argument
    fixtures::Subprocess a({"/bin/sleep", marker}), b({"/bin/sleep", marker});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // both exec'd
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: sleepers\n    search_string: ['sleep " + marker +
                                                    "$']\n  - name: none\n    search_string: ['no-such-process-xyz']\n");
    auto r = plugin.run(0);
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "system.processes.number", {{"process_name", "sleepers"}}), 2);
    EXPECT_EQ(metric_of(r, "system.processes.threads"), 2);
    EXPECT_GT(metric_of(r, "system.processes.mem.rss"), 0);
    EXPECT_GE(metric_of(r, "system.processes.open_file_descriptors"), 6);  // stdin, stdout, stderr each
    EXPECT_EQ(fixtures::service_check_of(r, "process.can_connect"), CheckStatus::Ok);
    auto none = plugin.runner().reports()[1];
    EXPECT_EQ(metric_of(none, "system.processes.number"), 0);
    EXPECT_EQ(fixtures::service_check_of(none, "process.can_connect"), CheckStatus::Critical);
}

// A command line is outside input, up to 128 KiB per argument: a pattern
// whose repetition spans 240 KB of it is decided like any other.
TEST(ProcessPlugin, APatternSpanningAHugeCommandLineMatches) {
    const std::string marker = "tracer-marker-" + std::to_string(getpid());
    fixtures::Subprocess big(
        {"/bin/sh", "-c", "sleep 30; :", marker, std::string(120000, 'x'), std::string(120000, 'y')});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // exec'd
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: big\n    search_string: ['" + marker +
                                                    " x+ .*y$']\n");
    auto r = plugin.run(0);
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "system.processes.number", {{"process_name", "big"}}), 1);
}

// exact_match compares process names, which need not be valid patterns.
TEST(ProcessPlugin, ExactNamesAreNotCompiledAsPatterns) {
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: cxx\n    exact_match: true\n"
                                                "    search_string: ['c++(']\n");
    auto r = plugin.run(0);
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "system.processes.number", {{"process_name", "cxx"}}), 0);
}

}  // namespace
}  // namespace tracer::collectors
