#include "bpf/cgroup_abi.h"
#include "containers/cgroup_layout.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

using namespace tracer::containers;

namespace {

class TempFile {
public:
    explicit TempFile(const std::string& content) {
        char tmpl[] = "/tmp/tracer-unit-XXXXXX";
        int fd = mkstemp(tmpl);
        path_ = tmpl;
        ::close(fd);
        std::ofstream(path_) << content;
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// This machine's layout: v1 controllers + cgroup2 at /sys/fs/cgroup/unified.
const char* kHybrid =
    "30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
    "32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd\n"
    "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct\n"
    "36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory\n"
    "37 30 0:33 / /sys/fs/cgroup/pids rw,nosuid shared:17 - cgroup cgroup rw,pids\n"
    "38 30 0:34 / /sys/fs/cgroup/cpuset rw,nosuid shared:18 - cgroup cgroup rw,cpuset,clone_children\n";

const char* kPureV2 =
    "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
    "26 1 0:23 / /proc rw shared:5 - proc proc rw\n";

const char* kProcCgroups =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpuset\t8\t1\t1\ncpu\t4\t90\t1\ncpuacct\t4\t90\t1\nblkio\t7\t90\t1\nmemory\t6\t120\t1\n"
    "devices\t3\t90\t1\nfreezer\t5\t1\t1\nnet_cls\t2\t1\t1\nperf_event\t9\t1\t1\npids\t10\t95\t1\n";

}  // namespace

TEST(CgroupLayout, ParsesHybridHost) {
    TempFile mi(kHybrid);
    auto layout = read_cgroup_layout(mi.path());
    ASSERT_EQ(layout.mounts.size(), 6u);
    ASSERT_NE(layout.unified(), nullptr);
    EXPECT_EQ(layout.unified()->mount_point, "/sys/fs/cgroup/unified");
    ASSERT_NE(layout.v1_controller("cpuacct"), nullptr);
    EXPECT_EQ(layout.v1_controller("cpuacct")->mount_point, "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(layout.v1_controller("cpuset")->controllers, std::vector<std::string>{"cpuset"});
    EXPECT_EQ(layout.v1_controller("name=systemd")->mount_point, "/sys/fs/cgroup/systemd");
    EXPECT_EQ(layout.v1_controller("blkio"), nullptr);
    EXPECT_EQ(layout.describe(), "hybrid (cgroup v1 + v2)");
}

TEST(CgroupLayout, ParsesPureV2AndKeepsOnlyMountsUnderAPrefix) {
    TempFile mi(kPureV2);
    auto layout = read_cgroup_layout(mi.path());
    EXPECT_EQ(layout.describe(), "cgroup v2");
    EXPECT_FALSE(layout.has_v1());
    EXPECT_TRUE(read_cgroup_layout(mi.path(), "/host").mounts.empty());
    TempFile host("40 1 0:22 / /host/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                  "41 1 0:22 / /hostile/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    auto hl = read_cgroup_layout(host.path(), "/host");
    ASSERT_EQ(hl.mounts.size(), 1u);
    EXPECT_EQ(hl.mounts[0].mount_point, "/host/sys/fs/cgroup");
}

TEST(CgroupLayout, UnescapesMountPointsAndKeepsNamespacedRoot) {
    TempFile mi("50 1 0:30 /kubepods/pod1 /my\\040cgroups rw - cgroup cgroup rw,memory\n");
    auto layout = read_cgroup_layout(mi.path());
    ASSERT_EQ(layout.mounts.size(), 1u);
    EXPECT_EQ(layout.mounts[0].mount_point, "/my cgroups");
    EXPECT_EQ(layout.mounts[0].root, "/kubepods/pod1");
}

TEST(CgroupLayout, MissingMountinfoIsAClearError) {
    try {
        read_cgroup_layout("/nonexistent/mountinfo");
        FAIL() << "expected an error";
    } catch (const CgroupLayoutError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/mountinfo"), std::string::npos);
    }
}

TEST(CgroupKeying, SubsysIdsFollowProcCgroupsOrder) {
    TempFile pc(kProcCgroups);
    EXPECT_EQ(subsys_id_of(pc.path(), "cpuset"), 0);
    EXPECT_EQ(subsys_id_of(pc.path(), "memory"), 4);
    EXPECT_EQ(subsys_id_of(pc.path(), "pids"), 9);
    EXPECT_EQ(subsys_id_of(pc.path(), "rdma"), -1);
}

TEST(CgroupKeying, AutoPrefersMemoryOnHybridAndV1) {
    TempFile mi(kHybrid), pc(kProcCgroups);
    auto k = choose_cgroup_keying(read_cgroup_layout(mi.path()), "auto", pc.path());
    EXPECT_EQ(k.mode, uint32_t(CGROUP_KEY_V1_SUBSYS));
    EXPECT_EQ(k.hierarchy, "memory");
    EXPECT_EQ(k.v1_subsys_id, 4u);
    EXPECT_EQ(k.mount_point, "/sys/fs/cgroup/memory");
}

TEST(CgroupKeying, AutoUsesCgroupIdOnPureV2) {
    TempFile mi(kPureV2), pc(kProcCgroups);
    auto k = choose_cgroup_keying(read_cgroup_layout(mi.path()), "auto", pc.path());
    EXPECT_EQ(k.mode, uint32_t(CGROUP_KEY_DEFAULT));
    EXPECT_EQ(k.mount_point, "/sys/fs/cgroup");
}

TEST(CgroupKeying, ExplicitChoicesAndTheirErrors) {
    TempFile mi(kHybrid), v2(kPureV2), pc(kProcCgroups);
    auto hybrid = read_cgroup_layout(mi.path());
    EXPECT_EQ(choose_cgroup_keying(hybrid, "unified", pc.path()).mode, uint32_t(CGROUP_KEY_DEFAULT));
    auto cpu = choose_cgroup_keying(hybrid, "cpu", pc.path());
    EXPECT_EQ(cpu.v1_subsys_id, 1u);
    EXPECT_EQ(cpu.mount_point, "/sys/fs/cgroup/cpu,cpuacct");
    try {
        choose_cgroup_keying(hybrid, "blkio", pc.path());
        FAIL();
    } catch (const CgroupLayoutError& e) {
        EXPECT_NE(std::string(e.what()).find("'blkio'"), std::string::npos);
    }
    EXPECT_THROW(choose_cgroup_keying(read_cgroup_layout(v2.path()), "memory", pc.path()), CgroupLayoutError);
    TempFile none("26 1 0:23 / /proc rw shared:5 - proc proc rw\n");
    EXPECT_THROW(choose_cgroup_keying(read_cgroup_layout(none.path()), "auto", pc.path()), CgroupLayoutError);
    EXPECT_THROW(choose_cgroup_keying(read_cgroup_layout(none.path()), "unified", pc.path()), CgroupLayoutError);
}
