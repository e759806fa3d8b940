// CgroupResolver on a plain directory tree: cgroupfs is walked the same way
// (directory entries' inode numbers are the keys).
#include "containers/cgroup_resolver.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using tracer::containers::CgroupResolver;
namespace fs = std::filesystem;

namespace {

uint64_t ino(const fs::path& p) {
    struct stat st {};
    stat(p.c_str(), &st);
    return st.st_ino;
}

class CgroupResolverTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("tracer-resolver-" + std::to_string(getpid()));
        fs::create_directories(root_ / "system.slice" / "foo.service");
        fs::create_directories(root_ / "docker" / "abc123");
        std::ofstream(root_ / "docker" / "cgroup.procs") << "";
    }
    void TearDown() override { fs::remove_all(root_); }
    fs::path root_;
};

}  // namespace

TEST_F(CgroupResolverTest, MapsIdsToPathsRelativeToTheRoot) {
    CgroupResolver r(root_.string());
    EXPECT_FALSE(r.lookup(ino(root_)).has_value()) << "nothing known before the first scan";
    EXPECT_TRUE(r.rescan().empty());
    EXPECT_EQ(r.live_count(), 5u);  // root, system.slice, foo.service, docker, abc123 (files skipped)
    EXPECT_EQ(r.lookup(ino(root_)).value_or(""), "/");
    EXPECT_EQ(r.lookup(ino(root_ / "system.slice" / "foo.service")).value_or(""), "/system.slice/foo.service");
    EXPECT_EQ(r.lookup(ino(root_ / "docker" / "abc123")).value_or(""), "/docker/abc123");
    EXPECT_FALSE(r.lookup(ino(root_ / "docker" / "cgroup.procs")).has_value());
}

TEST_F(CgroupResolverTest, NewCgroupsAppearOnRescanAndGoneOnesLingerOneScan) {
    CgroupResolver r(root_.string());
    r.rescan();
    fs::create_directories(root_ / "docker" / "def456");
    uint64_t fresh = ino(root_ / "docker" / "def456");
    EXPECT_FALSE(r.lookup(fresh).has_value());
    r.rescan();
    EXPECT_EQ(r.lookup(fresh).value_or(""), "/docker/def456");

    uint64_t old = ino(root_ / "docker" / "abc123");
    fs::remove(root_ / "docker" / "abc123");
    auto gone = r.rescan();
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0], old);
    EXPECT_FALSE(r.is_live(old));
    EXPECT_EQ(r.lookup(old).value_or(""), "/docker/abc123") << "still named for its last data point";
    r.rescan();
    EXPECT_FALSE(r.lookup(old).has_value());
}

TEST_F(CgroupResolverTest, PrefixesTheMountRootOfANamespacedMount) {
    CgroupResolver r(root_.string(), "/kubepods/pod1");
    r.rescan();
    EXPECT_EQ(r.lookup(ino(root_)).value_or(""), "/kubepods/pod1");
    EXPECT_EQ(r.lookup(ino(root_ / "docker" / "abc123")).value_or(""), "/kubepods/pod1/docker/abc123");
}

TEST(CgroupResolver, MissingHierarchyYieldsNothingAndNoCrash) {
    CgroupResolver r("/nonexistent/cgroup");
    EXPECT_TRUE(r.rescan().empty());
    EXPECT_EQ(r.live_count(), 0u);
}
