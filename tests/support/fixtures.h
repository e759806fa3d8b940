// Test fixtures shared by tests/bpf and tests/e2e: real cgroups, real child
// processes, the tracer binary as a subprocess.
#pragma once

#include "containers/cgroup_layout.h"
#include "probes/bpf_support.h"

#include <gtest/gtest.h>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tracer::fixtures {

// "" when the test may load BPF programs and manage cgroups; else why not.
std::string root_skip_reason();

// This host's cgroup mounts.
const containers::CgroupLayout& host_layout();

// Every cgroup keying the probes can use on this host: "unified" and each v1
// controller hierarchy tracer can key on. BPF tests run in all of them.
std::vector<std::string> keyings();

// Base of the probe suites: one instance per (cgroup keying, build of the
// program). SetUp skips without root and finds the keying's hierarchy;
// suites whose 5.11+ build needs task storage call skip_modern_without_task_storage().
class ProbeTest : public ::testing::TestWithParam<std::tuple<std::string, probes::ProbeVariant>> {
protected:
    void SetUp() override;
    void skip_modern_without_task_storage();
    // SetUp of a derived suite goes on only if the base's did not skip or fail.
    bool base_ready() const { return !IsSkipped() && !HasFatalFailure(); }

    containers::CgroupKeying keying_;
    const containers::CgroupMount* mount_ = nullptr;
    probes::ProbeVariant variant_ = probes::ProbeVariant::Baseline;
};

// Every (keying, build) pair, named "memory_baseline", "unified_modern", ...
::testing::internal::ParamGenerator<ProbeTest::ParamType> probe_test_params();
std::string probe_test_name(const ::testing::TestParamInfo<ProbeTest::ParamType>& info);

// A cgroup of the test's own in EVERY mounted hierarchy (v1 controllers,
// named v1 hierarchies, cgroup2), nested under the cgroup this process
// already lives in there (/proc/self/cgroup), never moving the test itself.
class TestCgroup {
public:
    explicit TestCgroup(const std::string& name);
    ~TestCgroup();
    TestCgroup(const TestCgroup&) = delete;
    TestCgroup& operator=(const TestCgroup&) = delete;

    // Moves `pid` into this cgroup in every hierarchy.
    void add(pid_t pid) const;
    // The directory / key / path relative to the hierarchy root, for `mount`.
    std::string dir(const containers::CgroupMount& mount) const;
    uint64_t id(const containers::CgroupMount& mount) const;  // inode = BPF cgroup key
    std::string path(const containers::CgroupMount& mount) const;

private:
    struct Entry {
        containers::CgroupMount mount;
        std::string relative;  // path relative to the hierarchy root
    };
    std::vector<Entry> entries_;
    const Entry& entry(const containers::CgroupMount& mount) const;
};

// Limits `cg`'s memory, and memory+swap where the kernel has it (so swapping
// cannot stave off the OOM), to `bytes`: the v1 memory controller, else
// cgroup2's memory.max. Returns the hierarchy limited; null when the test
// cgroup has neither. Throws when a limit cannot be written.
const containers::CgroupMount* limit_memory(const TestCgroup& cg, uint64_t bytes);
// Gives `cg` a CFS quota of `quota_us` per `period_us`: the v1 cpu
// controller's cpu.cfs_quota_us, else cgroup2's cpu.max. Returns the
// hierarchy limited; null when the test cgroup has neither.
const containers::CgroupMount* limit_cpu(const TestCgroup& cg, uint64_t quota_us, uint64_t period_us);
// A child's work: touches `bytes` of fresh anonymous memory page by page (in
// a cgroup limited below that, the kernel OOM-kills it); _exit(2) when the
// mapping fails, _exit(0) when it is all touched.
[[noreturn]] void touch_memory_and_exit(size_t bytes);

// A forked child that waits until release(), then runs `work` and _exit(0)s.
// Lets the parent move it into cgroups before it does anything measured.
class HeldChild {
public:
    explicit HeldChild(std::function<void()> work);
    ~HeldChild();
    pid_t pid() const { return pid_; }
    void release();
    // Waits for exit; returns the exit status (or -1).
    int wait();

private:
    pid_t pid_ = -1;
    int go_fd_ = -1;
    bool waited_ = false;
};

// Runs `argv` with stdout+stderr captured into a file; kill/wait/read it.
class Subprocess {
public:
    explicit Subprocess(std::vector<std::string> argv, uid_t run_as = static_cast<uid_t>(-1));
    ~Subprocess();
    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig) const;
    // Waits up to `timeout`; returns the exit code, 128+signal, or -1 on timeout.
    int wait_for(std::chrono::milliseconds timeout);
    std::string output() const;

private:
    pid_t pid_ = -1;
    std::string out_path_;
    bool done_ = false;
    int status_ = 0;
};

// One datagram to 127.0.0.1:`port` over UDP, or to the Unix datagram socket
// at `path`: false unless it was sent whole.
bool send_udp(uint16_t port, const std::string& data);
bool send_unix(const std::string& path, const std::string& data);

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_tcp_port();

// The mount of the hierarchy `tracer run` keys on by default ("auto") here.
const containers::CgroupMount* auto_keying_mount();

// Until `p`'s output holds `needle`: false if it exits or `timeout` passes first.
bool wait_output(Subprocess& p, const std::string& needle, std::chrono::seconds timeout);

// One GET http://127.0.0.1:`port`/metrics (2 s to connect, 5 s to read): the
// body of a 200 answer, else "".
std::string scrape_metrics(uint16_t port);

// GET http://127.0.0.1:`port`/metrics until the body holds `needle` (a whole
// sample line prefix); "" if `timeout` passes first.
std::string scrape_metrics_until(uint16_t port, const std::string& needle, std::chrono::seconds timeout);

// The value of the sample `series` (`name{labels}` exactly as rendered) in a
// /metrics body; -1 if absent.
double metric_value(const std::string& body, const std::string& series);
// A UDP port on 127.0.0.1 held (bound, without SO_REUSEPORT) until destroyed:
// a port in use for tests of what a listener does then.
class BusyUdpPort {
public:
    BusyUdpPort();
    ~BusyUdpPort();
    BusyUdpPort(const BusyUdpPort&) = delete;
    BusyUdpPort& operator=(const BusyUdpPort&) = delete;
    uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

}  // namespace tracer::fixtures
