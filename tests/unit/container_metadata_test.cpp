// Container metadata without a runtime running: OCI bundle configs as
// containerd and CRI-O write them (fixture files in tests/data/oci), Docker's
// inspect JSON, the bounded cache and the tag sets built from them.
#include "containers/container_metadata.h"
#include "containers/container_tagger.h"
#include "containers/docker_client.h"
#include "containers/oci_bundle.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

using namespace tracer::containers;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(TRACER_SOURCE_DIR) + "/tests/data/oci/";
const std::string kId = "3f1c9b2e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e";

TEST(OciBundle, ContainerdCriAnnotationsNameTheContainer) {
    auto info = read_oci_bundle_config(kData + "containerd-k8s-container.json", kId);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->id, kId);
    EXPECT_EQ(info->name, "nginx");
    EXPECT_EQ(info->kube_container, "nginx");
    EXPECT_EQ(info->pod, "web-7f9c-x2");
    EXPECT_EQ(info->pod_namespace, "shop");
    EXPECT_EQ(info->image, "docker.io/library/nginx:1.25");
}

TEST(OciBundle, ContainerdSandboxIsNamedAfterItsPod) {
    auto info = read_oci_bundle_config(kData + "containerd-k8s-sandbox.json", "0b3a");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->name, "web-7f9c-x2");
    EXPECT_EQ(info->pod, "web-7f9c-x2");
    EXPECT_EQ(info->kube_container, "");
}

TEST(OciBundle, CrioAnnotationsAndLabels) {
    auto info = read_oci_bundle_config(kData + "crio-k8s-container.json", "7e6d");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->name, "redis");
    EXPECT_EQ(info->pod, "cache-0");
    EXPECT_EQ(info->pod_namespace, "data");
    EXPECT_EQ(info->image, "docker.io/library/redis:7.2");
    EXPECT_EQ(info->labels["team"], "storage");
}

TEST(OciBundle, MissingOrForeignFilesAreNotContainers) {
    EXPECT_FALSE(read_oci_bundle_config(kData + "no-such.json", kId));
    EXPECT_FALSE(read_oci_bundle_config(std::string(TRACER_SOURCE_DIR) + "/conf.d/tracer.yaml", kId));
}

TEST(OciBundle, ReaderFindsBundlesUnderTheHostRun) {
    std::string run = "/tmp/tracer-oci-test-" + std::to_string(getpid());
    OciBundleReader none(run);
    EXPECT_FALSE(none.available());
    fs::create_directories(run + "/containerd/io.containerd.runtime.v2.task/k8s.io/" + kId);
    fs::copy_file(kData + "containerd-k8s-container.json",
                  run + "/containerd/io.containerd.runtime.v2.task/k8s.io/" + kId + "/config.json");
    fs::create_directories(run + "/containers/storage/overlay-containers/7e6d/userdata");
    fs::copy_file(kData + "crio-k8s-container.json", run + "/containers/storage/overlay-containers/7e6d/userdata/config.json");
    OciBundleReader reader(run);
    EXPECT_TRUE(reader.available());
    auto a = reader.lookup(kId);
    auto b = reader.lookup("7e6d");
    EXPECT_FALSE(reader.lookup("../../../etc"));
    EXPECT_FALSE(reader.lookup(std::string(64, 'a')));
    fs::remove_all(run);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->pod, "web-7f9c-x2");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->pod, "cache-0");
}

TEST(DockerInspect, NameImageLabelsAndKubernetesLabels) {
    auto info = parse_docker_inspect(R"({"Id":")" + kId + R"(","Name":"/k8s_web_web-7f9c-x2_shop_1",
        "Image":"sha256:abcd","Config":{"Image":"nginx:1.25","Labels":{"team":"core",
        "io.kubernetes.pod.name":"web-7f9c-x2","io.kubernetes.pod.namespace":"shop",
        "io.kubernetes.container.name":"web"}},"State":{"Running":true,"Pid":42}})");
    EXPECT_EQ(info.id, kId);
    EXPECT_EQ(info.name, "k8s_web_web-7f9c-x2_shop_1");
    EXPECT_EQ(info.image, "nginx:1.25");
    EXPECT_EQ(info.labels["team"], "core");
    EXPECT_EQ(info.pod, "web-7f9c-x2");
    EXPECT_EQ(info.pod_namespace, "shop");
    EXPECT_EQ(info.kube_container, "web");
}

TEST(DockerInspect, NullLabelsAndBadInput) {
    auto info = parse_docker_inspect(R"({"Id":"x","Name":"/a","Image":"sha256:ff","Config":{"Image":"","Labels":null}})");
    EXPECT_EQ(info.image, "sha256:ff");
    EXPECT_TRUE(info.labels.empty());
    EXPECT_THROW(parse_docker_inspect("not json"), DockerError);
    EXPECT_THROW(parse_docker_inspect("{}"), DockerError);
}

TEST(DockerClient, UnreachableSocketIsOneClearError) {
    DockerClient c("/tmp/tracer-no-such-docker.sock");
    try {
        c.get("/_ping", std::chrono::milliseconds(500));
        FAIL() << "no error";
    } catch (const DockerError& e) {
        EXPECT_NE(std::string(e.what()).find("unix:///tmp/tracer-no-such-docker.sock"), std::string::npos) << e.what();
    }
}

// Voluntary context switches of one thread of this process so far.
long voluntary_switches(pid_t tid) {
    std::ifstream status("/proc/self/task/" + std::to_string(tid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
    return -1;
}

// The event stream of a daemon with nothing to say: the streaming thread
// sleeps (no wake-up a second to look for stop), delivers what arrives, and
// a stop request ends it at once.
TEST(DockerClient, AnIdleEventStreamSleepsUntilAnEventOrStop) {
    const std::string path = "/tmp/tracer-fake-docker-" + std::to_string(getpid()) + ".sock";
    ::unlink(path.c_str());
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    ASSERT_EQ(::listen(listener, 1), 0);
    std::promise<void> close_stream;
    std::thread daemon([&, closed = close_stream.get_future()]() mutable {
        int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        char request[4096];
        (void)!::read(c, request, sizeof request);  // one GET, headers only
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n";
        const std::string event = "{\"Type\":\"container\",\"Actor\":{\"ID\":\"abc\"}}\n";
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", event.size());
        const std::string chunk = head + size + event + "\r\n";
        (void)!::write(c, chunk.data(), chunk.size());
        closed.wait();
        ::close(c);
    });

    DockerClient client(path);
    std::atomic<pid_t> streaming_tid{0};
    std::promise<std::string> first_line;
    std::promise<void> returned;
    auto returned_future = returned.get_future();
    auto line_future = first_line.get_future();
    std::jthread streamer([&](std::stop_token stop) {
        bool first = true;
        try {
            client.stream_lines(
                "/events",
                [&](const std::string& line) {
                    if (!first) return;
                    first = false;
                    streaming_tid = pid_t(::syscall(SYS_gettid));
                    first_line.set_value(line);
                },
                stop);
        } catch (const DockerError&) {
        }
        returned.set_value();
    });
    ASSERT_EQ(line_future.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "no event delivered";
    EXPECT_NE(line_future.get().find("\"abc\""), std::string::npos);
    // past libcurl's own timers of the connection's start (the 2 s connect
    // timeout among them), each of which wakes the thread once
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const long before = voluntary_switches(streaming_tid);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const long after = voluntary_switches(streaming_tid);
    ASSERT_GE(before, 0);
    EXPECT_LE(after - before, 1) << "the idle stream woke its thread " << (after - before) << " times in 2.5 s";
    streamer.request_stop();
    const bool stopped = returned_future.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    EXPECT_TRUE(stopped) << "a stop request did not end the stream";
    close_stream.set_value();  // (ends the stream anyway, so that the threads can be joined)
    streamer.join();
    daemon.join();
    ::close(listener);
    ::unlink(path.c_str());
}

TEST(MetadataCache, UnknownIdsAreAskedForOnceAndNamedWhenPut) {
    MetadataCache cache(8);
    EXPECT_FALSE(cache.find("a"));
    EXPECT_FALSE(cache.find("a"));
    auto asked = cache.wait_requests(std::chrono::milliseconds(0));
    ASSERT_EQ(asked, std::vector<std::string>{"a"});
    cache.put({"a", "web", "nginx", "", "", "", {}});
    ASSERT_TRUE(cache.find("a"));
    EXPECT_EQ(cache.find("a")->name, "web");
    cache.rename("a", "web2");
    EXPECT_EQ(cache.find("a")->name, "web2");
}

TEST(MetadataCache, EntriesOutliveTheirCgroupByOneInterval) {
    MetadataCache cache(8);
    cache.put({"a", "web", "", "", "", "", {}});
    cache.cgroup_gone("a");
    cache.end_interval();  // the interval the cgroup was found gone: its last data point flushes
    EXPECT_TRUE(cache.find("a"));
    cache.end_interval();  // one more interval
    EXPECT_EQ(cache.size(), 0u);
}

TEST(MetadataCache, StaysBoundedEvictingTheLeastRecentlyUsed) {
    MetadataCache cache(100);
    for (int i = 0; i < 1000; ++i) {
        cache.put({"id" + std::to_string(i), "c", "", "", "", "", {}});
        cache.find("id0");  // kept warm
    }
    EXPECT_EQ(cache.size(), 100u);
    EXPECT_TRUE(cache.find("id0"));
    EXPECT_TRUE(cache.find("id999"));
    EXPECT_FALSE(cache.find("id1"));
    // Unanswered requests are bounded too.
    for (int i = 0; i < 1000; ++i) cache.find("unknown" + std::to_string(i));
    EXPECT_LE(cache.wait_requests(std::chrono::milliseconds(0)).size(), 100u);
}

ContainerTaggerOptions tag_options() {
    ContainerTaggerOptions o;
    o.labels_as_tags = {{"team", "team"}, {"com.example.tier", "tier"}};
    return o;
}

TEST(ContainerTagger, EveryCgroupGetsTheSameLabelNamesInTheSameOrder) {
    MetadataCache cache;
    ContainerTagger tagger(cache, tag_options());
    std::vector<std::string> want{"cgroup", "container_id", "container_name", "image", "pod", "namespace",
                                  "kube_container", "team", "tier"};
    EXPECT_EQ(tagger.names(), want);
    auto names_of = [](const ContainerTagger::Tags& t) {
        std::vector<std::string> n;
        for (const auto& l : t.labels) n.push_back(l.name);
        return n;
    };
    auto service = tagger.tags_for_path("/system.slice/ssh.service");
    EXPECT_EQ(names_of(service), want);
    EXPECT_EQ(service.labels[0].value, "/system.slice/ssh.service");
    for (size_t i = 1; i < service.labels.size(); ++i) EXPECT_EQ(service.labels[i].value, "");

    // A container not known yet: only its cgroup this interval, and it is asked for.
    auto first = tagger.tags_for_path("/docker/" + kId);
    EXPECT_FALSE(first.known);
    EXPECT_EQ(names_of(first), want);
    EXPECT_EQ(first.labels[2].value, "");
    EXPECT_EQ(cache.wait_requests(std::chrono::milliseconds(0)), std::vector<std::string>{kId});

    cache.put({kId, "web", "nginx:1.25", "", "", "", {{"team", "core"}}});
    auto named = tagger.tags_for_path("/docker/" + kId);
    EXPECT_TRUE(named.known);
    EXPECT_EQ(names_of(named), want);
    EXPECT_EQ(named.labels[1].value, kId.substr(0, 12));
    EXPECT_EQ(named.labels[2].value, "web");
    EXPECT_EQ(named.labels[3].value, "nginx:1.25");
    EXPECT_EQ(named.labels[7].value, "core");
    EXPECT_EQ(named.labels[8].value, "");  // no such label on it
}

TEST(ContainerTagger, ExcludeUnlessIncluded) {
    MetadataCache cache;
    auto o = tag_options();
    o.exclude = {"image:pause", "name:^tmp-"};
    o.include = {"name:^tmp-keep"};
    ContainerTagger tagger(cache, o);
    std::string a(64, 'a'), b(64, 'b'), c(64, 'c'), d(64, 'd');
    cache.put({a, "web", "registry.k8s.io/pause:3.9", "", "", "", {}});
    cache.put({b, "tmp-1", "busybox", "", "", "", {}});
    cache.put({c, "tmp-keep", "busybox", "", "", "", {}});
    cache.put({d, "web", "nginx", "", "", "", {}});
    EXPECT_TRUE(tagger.tags_for_path("/docker/" + a).excluded);
    EXPECT_TRUE(tagger.tags_for_path("/docker/" + b).excluded);
    EXPECT_FALSE(tagger.tags_for_path("/docker/" + c).excluded);
    EXPECT_FALSE(tagger.tags_for_path("/docker/" + d).excluded);
    EXPECT_FALSE(tagger.tags_for_path("/system.slice/pause.service").excluded);  // not a container
}

TEST(ContainerTagger, KeyedPathOfAProcCgroupFile) {
    const std::string text =
        "12:pids:/docker/" + kId + "\n4:cpu,cpuacct:/docker/" + kId + "\n3:memory:/docker/" + kId +
        "\n1:name=systemd:/docker/" + kId + "\n0::/system.slice/containerd.service\n";
    CgroupKeying memory;
    memory.hierarchy = "memory";
    CgroupKeying cpu;
    cpu.hierarchy = "cpu";
    CgroupKeying unified;
    unified.hierarchy = "unified";
    CgroupKeying blkio;
    blkio.hierarchy = "blkio";
    EXPECT_EQ(ContainerTagger::keyed_path(text, memory), "/docker/" + kId);
    EXPECT_EQ(ContainerTagger::keyed_path(text, cpu), "/docker/" + kId);
    EXPECT_EQ(ContainerTagger::keyed_path(text, unified), "/system.slice/containerd.service");
    EXPECT_EQ(ContainerTagger::keyed_path(text, blkio), std::nullopt);
}

TEST(ContainerTagger, LabelsForAContainerIdMatchItsCgroupOnceTagged) {
    MetadataCache cache;
    ContainerTagger tagger(cache, tag_options());
    // Not seen yet: the id alone, short as on every metric.
    EXPECT_EQ(tagger.labels_for_container_id(kId), (tracer::metrics::Labels{{"container_id", kId.substr(0, 12)}}));
    cache.put({kId, "web", "nginx:1.25", "", "", "", {{"team", "core"}}});
    const auto tagged = tagger.tags_for_path("/docker/" + kId);  // what the flush does every interval
    EXPECT_EQ(tagger.labels_for_container_id(kId), tagged.labels);
    EXPECT_EQ(tagger.labels_for_container_id(kId.substr(0, 12)), tagged.labels);  // a 12-digit prefix
    EXPECT_EQ(tagger.labels_for_container_id(kId.substr(0, 8)),
              (tracer::metrics::Labels{{"container_id", kId.substr(0, 8)}}));  // too short to be matched
    EXPECT_EQ(tagged.labels[2].value, "web");
}

TEST(ContainerTagger, LabelsForPidMatchTheKernelMetricsOfItsCgroup) {
    MetadataCache cache;
    auto o = tag_options();
    o.keying.hierarchy = "unified";
    ContainerTagger tagger(cache, o);
    // Our own process: same labels as its cgroup path gives.
    std::ifstream in("/proc/self/cgroup");
    std::stringstream ss;
    ss << in.rdbuf();
    auto path = ContainerTagger::keyed_path(ss.str(), o.keying);
    ASSERT_TRUE(path);
    EXPECT_EQ(tagger.labels_for_pid(getpid()), tagger.tags_for_path(*path).labels);
    EXPECT_TRUE(tagger.labels_for_pid(0x7ffffff0).empty());  // no such process
}

}  // namespace
