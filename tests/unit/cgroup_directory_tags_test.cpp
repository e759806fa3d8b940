// CgroupDirectory::apply_tags on a directory tree shaped like a cgroup
// hierarchy (CgroupResolver walks any tree; inode numbers are the keys):
// every per-cgroup sample gets the same label names, excluded containers'
// samples go, names learnt later show from the next interval.
#include "agent/cgroup_directory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

using namespace tracer;
namespace fs = std::filesystem;

namespace {

const std::string kWeb(64, 'a'), kPause(64, 'b');

uint64_t inode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_ino;
}

std::vector<std::string> names(const metrics::Labels& labels) {
    std::vector<std::string> n;
    for (const auto& l : labels) n.push_back(l.name);
    return n;
}

std::string value(const metrics::Labels& labels, const std::string& name) {
    for (const auto& l : labels)
        if (l.name == name) return l.value;
    return "(absent)";
}

TEST(CgroupDirectoryTags, SameNamesForEverySampleExcludedDroppedNamesFromTheNextInterval) {
    std::string root = "/tmp/tracer-dirtags-" + std::to_string(getpid());
    fs::create_directories(root + "/docker/" + kWeb);
    fs::create_directories(root + "/docker/" + kPause);
    fs::create_directories(root + "/system.slice/ssh.service");
    uint64_t web = inode(root + "/docker/" + kWeb), pause = inode(root + "/docker/" + kPause),
             ssh = inode(root + "/system.slice/ssh.service");

    containers::MetadataCache cache;
    containers::ContainerTaggerOptions o;
    o.labels_as_tags = {{"team", "team"}};
    o.exclude = {"image:pause"};
    containers::ContainerTagger tagger(cache, o);
    containers::CgroupResolver resolver(root);
    agent::CgroupDirectory directory(resolver, 100);
    directory.use_tagger(&tagger, &cache);

    auto interval = [&] {
        directory.begin_interval({web, pause, ssh});
        metrics::Snapshot snap(1);
        for (uint64_t k : {web, pause, ssh})
            snap[0].samples.push_back({{{"cgroup", directory.label(k)}, {"syscall", "read"}}, 1, {}});
        snap[0].samples.push_back({{{"cgroup", agent::CgroupDirectory::kOverflow}, {"syscall", "read"}}, 1, {}});
        directory.end_interval();
        directory.apply_tags(snap, 0);
        return snap[0].samples;
    };
    const std::vector<std::string> want{"cgroup", "container_id", "container_name", "image", "pod",
                                        "namespace", "kube_container", "team", "syscall"};

    // Interval 1: nothing known yet: cgroup only, nothing excluded yet.
    auto first = interval();
    ASSERT_EQ(first.size(), 4u);
    for (const auto& s : first) {
        EXPECT_EQ(names(s.labels), want);
        EXPECT_EQ(value(s.labels, "container_name"), "");
    }
    // The providers answer (here: by hand) ...
    cache.put({kWeb, "web", "nginx:1.25", "", "", "", {{"team", "core"}}});
    cache.put({kPause, "pause", "registry.k8s.io/pause:3.9", "", "", "", {}});
    // ... and interval 2 is named; the excluded container is gone from the output.
    auto second = interval();
    ASSERT_EQ(second.size(), 3u);
    for (const auto& s : second) EXPECT_EQ(names(s.labels), want);
    EXPECT_EQ(value(second[0].labels, "cgroup"), "/docker/" + kWeb);
    EXPECT_EQ(value(second[0].labels, "container_name"), "web");
    EXPECT_EQ(value(second[0].labels, "container_id"), kWeb.substr(0, 12));
    EXPECT_EQ(value(second[0].labels, "team"), "core");
    EXPECT_EQ(value(second[1].labels, "cgroup"), "/system.slice/ssh.service");
    EXPECT_EQ(value(second[1].labels, "image"), "");
    EXPECT_EQ(value(second[2].labels, "cgroup"), agent::CgroupDirectory::kOverflow);
    fs::remove_all(root);
}

// The container list: every container whose cgroup exists, idle ones too
// (no key of theirs reaches begin_interval), one sample each at its outermost
// cgroup, excluded ones left out, at most max_cgroups; a container removed
// leaves the list at the next scan.
TEST(CgroupDirectoryTags, ContainerInfoListsEveryPresentContainerOnceIdleOnesToo) {
    std::string root = "/tmp/tracer-dirinfo-" + std::to_string(getpid());
    const std::string kIdle(64, 'c');
    fs::create_directories(root + "/docker/" + kWeb + "/init.scope");
    fs::create_directories(root + "/docker/" + kIdle);
    fs::create_directories(root + "/docker/" + kPause);
    fs::create_directories(root + "/system.slice/ssh.service");
    uint64_t web = inode(root + "/docker/" + kWeb + "/init.scope");

    containers::MetadataCache cache;
    containers::ContainerTaggerOptions o;
    o.exclude = {"image:pause"};
    containers::ContainerTagger tagger(cache, o);
    containers::CgroupResolver resolver(root);
    agent::CgroupDirectory directory(resolver, 100, std::chrono::seconds(0));  // a scan every interval
    directory.use_tagger(&tagger, &cache);

    auto interval = [&] {
        directory.begin_interval({web});  // only web's init.scope was active
        directory.label(web);
        directory.end_interval();
        metrics::Snapshot snap;
        directory.append_container_info(snap);
        std::map<std::string, std::string> out;  // cgroup -> "container_id name"
        if (snap.empty()) return out;
        EXPECT_EQ(snap[0].name, "tracer.container.info");
        for (const auto& s : snap[0].samples) {
            EXPECT_EQ(s.value, 1.0);
            out[value(s.labels, "cgroup")] = value(s.labels, "container_id") + " " + value(s.labels, "container_name");
        }
        return out;
    };

    // Before the metadata: every container by its id (the pause one cannot be told excluded yet).
    auto first = interval();
    EXPECT_EQ(first, (std::map<std::string, std::string>{{"/docker/" + kWeb, kWeb.substr(0, 12) + " "},
                                                          {"/docker/" + kIdle, kIdle.substr(0, 12) + " "},
                                                          {"/docker/" + kPause, kPause.substr(0, 12) + " "}}));
    cache.put({kWeb, "web", "nginx:1.25", "", "", "", {}});
    cache.put({kIdle, "idle", "busybox", "", "", "", {}});
    cache.put({kPause, "pause", "registry.k8s.io/pause:3.9", "", "", "", {}});
    auto second = interval();
    EXPECT_EQ(second, (std::map<std::string, std::string>{{"/docker/" + kWeb, kWeb.substr(0, 12) + " web"},
                                                           {"/docker/" + kIdle, kIdle.substr(0, 12) + " idle"}}));
    fs::remove(root + "/docker/" + kIdle);
    auto third = interval();
    EXPECT_EQ(third, (std::map<std::string, std::string>{{"/docker/" + kWeb, kWeb.substr(0, 12) + " web"}}));

    // The cardinality limit holds here too.
    agent::CgroupDirectory one(resolver, 1, std::chrono::seconds(0));
    one.use_tagger(&tagger, &cache);
    fs::create_directories(root + "/docker/" + kIdle);
    one.begin_interval({});
    one.end_interval();
    metrics::Snapshot snap;
    one.append_container_info(snap);
    ASSERT_EQ(snap.size(), 1u);
    EXPECT_EQ(snap[0].samples.size(), 1u);
    fs::remove_all(root);
}

}  // namespace
