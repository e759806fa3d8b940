// process against real child processes the test starts.
#include "collectors/confd.h"
#include "fixtures.h"
#include "plugin_check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace tracer::collectors {
namespace {

using fixtures::metric_of;
using fixtures::service_check_of;

// A copy of /bin/sleep under `name` in a fresh directory: a program name no
// other process on the machine has.
class NamedSleep {
public:
    explicit NamedSleep(const std::string& name) {
        dir_ = std::filesystem::temp_directory_path() / ("tracer-process-test-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / name).string();
        std::filesystem::copy_file("/bin/sleep", path_, std::filesystem::copy_options::overwrite_existing);
    }
    ~NamedSleep() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    const std::string& path() const { return path_; }

private:
    std::filesystem::path dir_;
    std::string path_;
};

void wait_for_exec() { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }

TEST(ProcessPlugin, CountsTheProcessesWhoseCommandLineMatches) {
    std::string marker = std::to_string(100000 + getpid() % 100000) + ".25";  // a unique sleep argument
    fixtures::Subprocess a({"/bin/sleep", marker}), b({"/bin/sleep", marker});
    wait_for_exec();
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: sleepers\n    exact_match: false\n"
                                                "    search_string: ['sleep " + marker + "$']\n"
                                                "  - name: none\n    exact_match: false\n"
                                                "    search_string: ['no-such-process-xyz']\n");
    auto r = plugin.run(0);
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "system.processes.number", {{"process_name", "sleepers"}}), 2);
    EXPECT_EQ(metric_of(r, "system.processes.threads"), 2);
    EXPECT_GT(metric_of(r, "system.processes.mem.rss"), 0);
    EXPECT_GE(metric_of(r, "system.processes.open_file_descriptors"), 6);  // stdin, stdout, stderr each
    std::string message;
    EXPECT_EQ(service_check_of(r, "process.up", &message), CheckStatus::Ok);
    EXPECT_EQ(message, "PROCS OK: 2 processes found for sleepers");
    auto none = plugin.runner().reports()[1];
    EXPECT_EQ(metric_of(none, "system.processes.number"), 0);
    EXPECT_EQ(service_check_of(none, "process.up", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "PROCS CRITICAL: 0 processes found for none");
}

// As Datadog's check: without exact_match, search_string names processes,
// and a name longer than the kernel's 15-byte comm is the program's full name.
TEST(ProcessPlugin, SearchStringsAreProcessNamesByDefault) {
    const std::string id = std::to_string(getpid());
    NamedSleep short_name("ts" + id), long_name("tracer-long-named-sleeper-" + id);
    fixtures::Subprocess a({short_name.path(), "30"}), b({short_name.path(), "30"}), c({long_name.path(), "30"});
    wait_for_exec();
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: short\n    search_string: ['ts" + id + "']\n"
                                                "  - name: long\n    search_string: ['tracer-long-named-sleeper-" +
                                                    id + "']\n"
                                                "  - name: prefix\n    search_string: ['ts']\n");
    auto r = plugin.run_all();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(metric_of(r[0], "system.processes.number", {{"process_name", "short"}}), 2);
    EXPECT_EQ(metric_of(r[1], "system.processes.number", {{"process_name", "long"}}), 1);
    EXPECT_EQ(metric_of(r[2], "system.processes.number", {{"process_name", "prefix"}}), 0) << "names are not searched";
}

// exact_match compares process names, which need not be valid patterns.
TEST(ProcessPlugin, ExactNamesAreNotCompiledAsPatterns) {
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: cxx\n    exact_match: true\n"
                                                "    search_string: ['c++(']\n");
    auto r = plugin.run(0);
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "system.processes.number", {{"process_name", "cxx"}}), 0);
}

// A command line is outside input, up to 128 KiB per argument: a pattern
// whose repetition spans 240 KB of it is decided like any other.
TEST(ProcessPlugin, APatternSpanningAHugeCommandLineMatches) {
    const std::string marker = "tracer-marker-" + std::to_string(getpid());
    fixtures::Subprocess big(
        {"/bin/sh", "-c", "sleep 30; :", marker, std::string(120000, 'x'), std::string(120000, 'y')});
    wait_for_exec();
    fixtures::PluginUnderTest plugin("process", "instances:\n  - name: big\n    exact_match: false\n"
                                                "    search_string: ['" + marker + " x+ .*y$']\n");
    auto r = plugin.run(0);
    EXPECT_EQ(r.last_error, "");
    EXPECT_EQ(metric_of(r, "system.processes.number", {{"process_name", "big"}}), 1);
}

TEST(ProcessPlugin, APidOrAPidFileNamesTheProcess) {
    fixtures::Subprocess child({"/bin/sleep", "30"});
    wait_for_exec();
    const std::string dir = std::filesystem::temp_directory_path() / ("tracer-pidfile-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/app.pid") << child.pid() << "\n";
    fixtures::PluginUnderTest plugin("process", "instances:\n"
                                                "  - name: by_pid\n    pid: " + std::to_string(child.pid()) + "\n"
                                                "  - name: by_file\n    pid_file: " + dir + "/app.pid\n"
                                                "  - name: no_file\n    pid_file: " + dir + "/missing.pid\n");
    auto r = plugin.run_all();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(metric_of(r[0], "system.processes.number"), 1);
    EXPECT_EQ(metric_of(r[0], "system.processes.threads"), 1);
    EXPECT_EQ(service_check_of(r[0], "process.up"), CheckStatus::Ok);
    EXPECT_EQ(metric_of(r[1], "system.processes.number"), 1);
    EXPECT_EQ(metric_of(r[2], "system.processes.number"), 0);
    EXPECT_EQ(service_check_of(r[2], "process.up"), CheckStatus::Critical);
    child.signal(SIGKILL);
    child.wait_for(std::chrono::seconds(5));
    EXPECT_EQ(metric_of(plugin.run_all()[1], "system.processes.number"), 0) << "the pid file's process is gone";
    std::filesystem::remove_all(dir);
}

// user: only the processes of that user of the host (its passwd under the host root).
TEST(ProcessPlugin, UserKeepsOnlyThatUsersProcesses) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (a child run as nobody)";
    const std::string marker = "tracer-user-" + std::to_string(getpid());
    fixtures::Subprocess mine({"/bin/sh", "-c", "sleep 30; :", marker}),
        nobodys({"/bin/sh", "-c", "sleep 30; :", marker}, 65534);
    wait_for_exec();
    const std::string search = "    exact_match: false\n    search_string: ['" + marker + "']\n";
    fixtures::PluginUnderTest plugin("process", "instances:\n"
                                                "  - name: all\n" + search +
                                                "  - name: nobody\n    user: nobody\n" + search +
                                                "  - name: root\n    user: root\n" + search +
                                                "  - name: nosuch\n    user: no-such-user-xyz\n" + search);
    auto r = plugin.run_all();
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(metric_of(r[0], "system.processes.number"), 2);
    EXPECT_EQ(metric_of(r[1], "system.processes.number"), 1);
    EXPECT_EQ(metric_of(r[2], "system.processes.number"), 1);
    std::string message;
    EXPECT_EQ(service_check_of(r[3], "process.up", &message), CheckStatus::Critical);
    EXPECT_EQ(message, "no user 'no-such-user-xyz' in /etc/passwd");
}

// thresholds: the counts process.up accepts as OK, and as not CRITICAL.
TEST(ProcessPlugin, ThresholdsSetWhatProcessUpSays) {
    NamedSleep sleep("tt" + std::to_string(getpid()));
    fixtures::Subprocess a({sleep.path(), "30"}), b({sleep.path(), "30"});
    wait_for_exec();
    const std::string name = "    search_string: ['tt" + std::to_string(getpid()) + "']\n";
    fixtures::PluginUnderTest plugin("process", "instances:\n"
                                                "  - name: ok\n" + name + "    thresholds: {warning: [2, 2]}\n"
                                                "  - name: warn\n" + name +
                                                "    thresholds: {warning: [3, 10], critical: [1, 10]}\n"
                                                "  - name: crit\n" + name + "    thresholds: {critical: [0, 1]}\n");
    auto r = plugin.run_all();
    ASSERT_EQ(r.size(), 3u);
    std::string message;
    EXPECT_EQ(service_check_of(r[0], "process.up"), CheckStatus::Ok);
    EXPECT_EQ(service_check_of(r[1], "process.up", &message), CheckStatus::Warning);
    EXPECT_EQ(message, "PROCS WARNING: 2 processes found for warn");
    EXPECT_EQ(service_check_of(r[2], "process.up"), CheckStatus::Critical);
}

TEST(ProcessPlugin, WaysToNameProcessesAndThresholdsAreChecked) {
    auto problem = [](const std::string& instance) {
        auto load = load_confd_text("instances:\n  - name: x\n" + instance, "process.yaml", "process");
        const size_t n = load.problems.size();
        return n == 1 ? load.problems[0].message : "problems: " + std::to_string(n);
    };
    EXPECT_NE(problem("    pid: 1\n    search_string: [init]\n").find("set exactly one of 'search_string', 'pid' and "
                                                                     "'pid_file'"),
              std::string::npos);
    EXPECT_NE(problem("    tags: []\n").find("set exactly one of"), std::string::npos);
    EXPECT_NE(problem("    pid: 1\n    thresholds: {critical: [5, 1]}\n")
                  .find("process.yaml:4: process instance 0: 'thresholds': 'critical' must be [min, max]"),
              std::string::npos)
        << problem("    pid: 1\n    thresholds: {critical: [5, 1]}\n");
    EXPECT_NE(problem("    pid: 1\n    thresholds: {critcal: [1, 5]}\n").find("unknown key 'critcal'"),
              std::string::npos);
}

}  // namespace
}  // namespace tracer::collectors
