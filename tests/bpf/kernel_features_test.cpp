// What tracer probes on the running kernel, checked against what that
// kernel's version says it has, and the build every probe then loads. The
// host (6.18) takes the 5.11+ paths; vmtest/run.sh runs this binary inside
// Linux 5.10 (5.8 baseline: raw_tp, thread-id hashes, task_struct.state, no
// prev_state), 6.1 (5.11+ build, __state, prev_state) and the newest kernel,
// so every path is taken on a kernel that takes it.
#include "containers/cgroup_layout.h"
#include "probes/kernel_features.h"
#include "probes/proc_probe.h"
#include "probes/sched_probe.h"
#include "probes/syscall_probe.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace tracer;

namespace {

bool kernel_at_least(int major, int minor) {
    utsname u{};
    int have_major = 0, have_minor = 0;
    if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &have_major, &have_minor) != 2) return false;
    return have_major > major || (have_major == major && have_minor >= minor);
}

class KernelFeaturesTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    }
};

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
    for (const auto& l : lines)
        if (l.find(what) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_F(KernelFeaturesTest, MatchWhatTheKernelVersionHas) {
    auto f = probes::probe_kernel_features("");
    for (const auto& line : probes::describe_features(f)) std::printf("  %s\n", line.c_str());

    EXPECT_TRUE(f.version_ok) << f.release;
    EXPECT_TRUE(f.kernel_btf);
    EXPECT_EQ(f.btf_file, "/sys/kernel/btf/vmlinux");
    EXPECT_TRUE(f.btf_types_read) << f.btf_error;
    EXPECT_TRUE(f.ring_buffer) << "ring buffers exist from 5.8";
    EXPECT_TRUE(f.tp_btf) << "BTF-typed tracepoints exist from 5.5 on kernels with BTF";
    EXPECT_EQ(f.task_storage, kernel_at_least(5, 11)) << f.release;
    EXPECT_EQ(f.task_state_renamed, kernel_at_least(5, 14)) << f.release;
    EXPECT_EQ(f.sched_switch_prev_state, kernel_at_least(5, 18) ? 3 : 0) << f.release;
    EXPECT_EQ(probes::modern_build_applies(f), kernel_at_least(5, 11)) << f.release;
    EXPECT_EQ(f.lazy_hash_maps, kernel_at_least(6, 1)) << f.release;

    auto lines = probes::describe_features(f);
    if (probes::modern_build_applies(f)) {
        EXPECT_TRUE(mentions(lines, "-> hooks: tp_btf/"));
        EXPECT_TRUE(mentions(lines, "-> per-thread state in task storage"));
        EXPECT_TRUE(mentions(lines, "probe build: Linux 5.11+"));
    } else {
        EXPECT_TRUE(mentions(lines, "-> hooks: raw_tp/"));
        EXPECT_TRUE(mentions(lines, "-> per-thread state in a hash keyed by thread id"));
        EXPECT_TRUE(mentions(lines, "probe build: Linux 5.8 baseline"));
    }
    EXPECT_TRUE(mentions(lines, f.task_state_renamed ? "task_struct.__state" : "task_struct.state (< 5.14)"));
}

TEST_F(KernelFeaturesTest, EveryProbeLoadsTheBuildTheFeaturesName) {
    const auto expected = probes::modern_build_applies(probes::kernel_features()) ? probes::ProbeVariant::Modern
                                                                                  : probes::ProbeVariant::Baseline;
    auto keying = containers::choose_cgroup_keying(fixtures::host_layout(), "auto", "/proc/cgroups");
    {
        probes::SyscallProbeOptions o;
        o.keying = keying;
        EXPECT_EQ(probes::SyscallProbe(o).variant(), expected);
    }
    {
        probes::SchedProbeOptions o;
        o.keying = keying;
        EXPECT_EQ(probes::SchedProbe(o).variant(), expected);
    }
    {
        probes::ProcProbeOptions o;
        o.keying = keying;
        EXPECT_EQ(probes::ProcProbe(o).variant(), expected);
    }
}

// The per-cgroup per-CPU hashes of every probe allocate entries as they are
// inserted where the kernel allows it (6.1+), and are preallocated elsewhere:
// read back from the kernel (/proc/self/fdinfo of the maps this process holds).
TEST_F(KernelFeaturesTest, PerCgroupHashesAreAllocatedOnInsertWhereTheKernelAllows) {
    auto keying = containers::choose_cgroup_keying(fixtures::host_layout(), "auto", "/proc/cgroups");
    probes::SyscallProbeOptions so;
    so.keying = keying;
    probes::SchedProbeOptions sc;
    sc.keying = keying;
    probes::ProcProbeOptions po;
    po.keying = keying;
    probes::SyscallProbe syscalls(so);
    probes::SchedProbe sched(sc);
    probes::ProcProbe proc(po);
    const bool lazy = probes::kernel_features().lazy_hash_maps;
    int per_cpu_hashes = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fdinfo")) {
        std::ifstream in(entry.path());
        std::string key;
        long long type = -1, flags = -1;
        while (in >> key) {
            if (key == "map_type:") in >> type;
            else if (key == "map_flags:") in >> std::hex >> flags >> std::dec;
            else in.ignore(1 << 20, '\n');
        }
        if (type != BPF_MAP_TYPE_PERCPU_HASH) continue;
        ++per_cpu_hashes;
        EXPECT_EQ((flags & BPF_F_NO_PREALLOC) != 0, lazy) << entry.path() << " map_flags " << flags;
    }
    EXPECT_GE(per_cpu_hashes, 3) << "syscall_stats, sched_stats, proc_counts";
}

TEST_F(KernelFeaturesTest, AnExternalBtfFileDescribesTheSameKernel) {
    std::string copy = "/tmp/tracer-test-" + std::to_string(getpid()) + "-vmlinux.btf";
    std::filesystem::copy_file("/sys/kernel/btf/vmlinux", copy, std::filesystem::copy_options::overwrite_existing);
    auto own = probes::probe_kernel_features("");
    auto ext = probes::probe_kernel_features(copy);
    std::filesystem::remove(copy);
    EXPECT_EQ(ext.btf_file, copy);
    EXPECT_TRUE(ext.btf_types_read) << ext.btf_error;
    EXPECT_EQ(ext.task_state_renamed, own.task_state_renamed);
    EXPECT_EQ(ext.sched_switch_prev_state, own.sched_switch_prev_state);

    // Not BTF at all: named, and the layouts read as unknown.
    auto bad = probes::probe_kernel_features("/proc/self/exe");
    EXPECT_FALSE(bad.btf_types_read);
    EXPECT_NE(bad.btf_error.find("cannot parse BTF file /proc/self/exe"), std::string::npos) << bad.btf_error;
    EXPECT_TRUE(mentions(probes::describe_features(bad), "task state field: unknown"));

    auto missing = probes::probe_kernel_features("/nonexistent/vmlinux.btf");
    EXPECT_TRUE(missing.btf_file.empty());
    EXPECT_NE(missing.btf_error.find("/nonexistent/vmlinux.btf"), std::string::npos) << missing.btf_error;
}
