// bpf/cgroup_events.bpf.c on the real kernel: a cgroup created and removed
// between two scans of cgroupfs is still named (not "<unresolved>"), in every
// cgroup keying this host offers; only the keyed hierarchy is reported.
#include "agent/cgroup_directory.h"
#include "containers/cgroup_layout.h"
#include "containers/cgroup_resolver.h"
#include "probes/cgroup_events_probe.h"
#include "fixtures.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace tracer;

namespace {

class CgroupEventsTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (auto why = fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        const auto& layout = fixtures::host_layout();
        keying_ = containers::choose_cgroup_keying(layout, GetParam(), "/proc/cgroups");
        mount_ = GetParam() == "unified" ? layout.unified() : layout.v1_controller(GetParam());
        ASSERT_NE(mount_, nullptr);
    }
    containers::CgroupKeying keying_;
    const containers::CgroupMount* mount_ = nullptr;
};

TEST_P(CgroupEventsTest, RecordsMkdirAndRmdirOfTheKeyedHierarchyOnly) {
    probes::CgroupEventsProbe probe(keying_, "/proc/cgroups");
    uint64_t id = 0;
    std::string path;
    {
        fixtures::TestCgroup cg("cgevents");
        id = cg.id(*mount_);
        path = cg.path(*mount_);
    }
    std::vector<probes::CgroupEvent> ours;
    probe.drain([&](const probes::CgroupEvent& e) {
        if (e.path == path) ours.push_back(e);
    });
    ASSERT_EQ(ours.size(), 2u) << "one mkdir and one rmdir of " << path << " in the " << GetParam()
                               << " hierarchy (the same cgroup in the other hierarchies is not reported)";
    EXPECT_TRUE(ours[0].created);
    EXPECT_FALSE(ours[1].created);
    EXPECT_EQ(ours[0].cgroup_id, id);
    EXPECT_EQ(ours[1].cgroup_id, id);
    EXPECT_EQ(probe.drops(), 0u);
}

TEST_P(CgroupEventsTest, CgroupGoneBeforeTheNextScanIsNamed) {
    probes::CgroupEventsProbe probe(keying_, "/proc/cgroups");
    containers::CgroupResolver resolver(mount_->mount_point, mount_->root);
    agent::CgroupDirectory directory(resolver, 1000);  // scans cgroupfs once here
    directory.use_cgroup_events(&probe);
    uint64_t id = 0;
    std::string path;
    {
        fixtures::TestCgroup cg("shortlived");
        id = cg.id(*mount_);
        path = cg.path(*mount_);
    }  // created and removed between two scans
    directory.begin_interval({id});
    EXPECT_EQ(directory.label(id), path);
    const auto& gone = directory.gone();
    EXPECT_NE(std::find(gone.begin(), gone.end(), id), gone.end()) << "its removal is noticed in the same interval";
    directory.end_interval();

    // Without the probe, the same thing is "<unresolved>" (what this probe fixes).
    containers::CgroupResolver blind_resolver(mount_->mount_point, mount_->root);
    agent::CgroupDirectory blind(blind_resolver, 1000);
    {
        fixtures::TestCgroup cg("shortlived2");
        id = cg.id(*mount_);
    }
    blind.begin_interval({id});
    EXPECT_EQ(blind.label(id), agent::CgroupDirectory::kUnresolved);
}

INSTANTIATE_TEST_SUITE_P(Keyings, CgroupEventsTest, ::testing::ValuesIn(fixtures::keyings()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CgroupEventsTest);

}  // namespace
