#include "containerd_runtime.h"

#include "docker_engine.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace tracer::fixtures {
namespace {

const char* kContainerd = "/usr/bin/containerd";
const char* kCtr = "/usr/bin/ctr";
const char* kNamespace = "k8s.io";  // the CRI plugin's

std::string random_hex(size_t digits) {
    static std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string s;
    while (s.size() < digits) s += hex[rng() % 16];
    return s;
}

}  // namespace

std::string ContainerdRuntime::skip_reason() {
    if (geteuid() != 0) return "needs root (runs containerd)";
    if (access(kContainerd, X_OK) != 0 || access(kCtr, X_OK) != 0)
        return "containerd is not installed (docker.io's dependency): scripts/install-deps.sh --test";
    if (busybox_path().empty()) return "busybox-static is not installed: scripts/install-deps.sh --test";
    return "";
}

ContainerdRuntime::ContainerdRuntime() {
    dir_ = "/tmp/tracer-containerd-" + std::to_string(getpid());
    host_root_ = dir_ + "/host";
    socket_ = dir_ + "/containerd.sock";
    fs::create_directories(host_root_ + "/run");
    busybox_rootfs_tar(dir_);  // (its rootfs directory serves every container as is)
    rootfs_ = dir_ + "/rootfs";
    std::ofstream(dir_ + "/config.toml") << "version = 2\n"
                                         << "root = \"" << dir_ << "/root\"\n"
                                         << "state = \"" << host_root_ << "/run/containerd\"\n"
                                         << "[grpc]\n  address = \"" << socket_ << "\"\n"
                                         << "[ttrpc]\n  address = \"" << socket_ << ".ttrpc\"\n";
    containerd_ = std::make_unique<Subprocess>(std::vector<std::string>{kContainerd, "--config", dir_ + "/config.toml"});
    auto end = std::chrono::steady_clock::now() + 30s;
    bool up = false;
    while (!up && containerd_->running() && std::chrono::steady_clock::now() < end) {
        up = fs::exists(socket_) && ctr({"version"}).first == 0;
        if (!up) std::this_thread::sleep_for(100ms);
    }
    if (!up) throw std::runtime_error("containerd did not come up: " + containerd_->output());
}

ContainerdRuntime::~ContainerdRuntime() {
    for (const auto& id : std::vector<std::string>(ids_)) remove(id);
    if (containerd_) {
        containerd_->signal(SIGTERM);
        if (containerd_->wait_for(10s) < 0) containerd_->signal(SIGKILL);
        containerd_.reset();
    }
    // runc leaves the pods' cgroups (and kubepods/<qos>) behind: removed where empty.
    for (const auto& pod : pod_cgroups_)
        for (const auto& m : host_layout().mounts)
            for (fs::path p = m.mount_point + pod; p.string().size() > m.mount_point.size(); p = p.parent_path())
                if (::rmdir(p.c_str()) != 0) break;
    unmount_and_remove(dir_);
}

ContainerdRuntime::Pod ContainerdRuntime::make_pod(const std::string& name, const std::string& ns, bool systemd) {
    return {random_hex(8) + "-" + random_hex(4) + "-" + random_hex(4) + "-" + random_hex(4) + "-" + random_hex(12),
            name, ns, systemd};
}

std::string ContainerdRuntime::pod_cgroup(const Pod& pod) {
    if (!pod.systemd) return "/kubepods/besteffort/pod" + pod.uid;
    std::string uid = pod.uid;
    std::replace(uid.begin(), uid.end(), '-', '_');  // (systemd's unit-name escaping of the UID)
    return "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid + ".slice";
}

std::string ContainerdRuntime::container_cgroup(const Pod& pod, const std::string& id) {
    return pod_cgroup(pod) + (pod.systemd ? "/cri-containerd-" + id + ".scope" : "/" + id);
}

std::string ContainerdRuntime::run(const Pod& pod, const std::string& container, const std::string& image,
                                   const std::string& script) {
    const std::string id = random_hex(64);
    const bool sandbox = container.empty();
    if (std::find(pod_cgroups_.begin(), pod_cgroups_.end(), pod_cgroup(pod)) == pod_cgroups_.end())
        pod_cgroups_.push_back(pod_cgroup(pod));
    std::vector<std::string> args{"run", "-d", "--rootfs", "--cgroup", container_cgroup(pod, id)};
    auto annotate = [&](const std::string& key, const std::string& value) {
        args.insert(args.end(), {"--annotation", "io.kubernetes.cri." + key + "=" + value});
    };
    annotate("container-type", sandbox ? "sandbox" : "container");
    annotate("sandbox-name", pod.name);
    annotate("sandbox-namespace", pod.ns);
    annotate("sandbox-uid", pod.uid);
    if (!sandbox) {
        annotate("container-name", container);
        annotate("image-name", image);
    }
    args.insert(args.end(), {rootfs_, id, "/bin/sh", "-c", script});
    ids_.push_back(id);
    auto [rc, out] = ctr(args);
    if (rc != 0) {
        ADD_FAILURE() << "ctr run exited " << rc << ": " << out;
        return "";
    }
    return id;
}

void ContainerdRuntime::remove(const std::string& id) {
    ctr({"task", "kill", "-s", "SIGKILL", id});
    // (the task is deleted once it has stopped)
    for (int i = 0; i < 100 && ctr({"task", "delete", id}).first != 0; ++i) {
        if (ctr({"task", "ls", "-q"}).second.find(id) == std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    }
    ctr({"container", "delete", id});
    ids_.erase(std::remove(ids_.begin(), ids_.end(), id), ids_.end());
}

std::pair<int, std::string> ContainerdRuntime::ctr(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kCtr, "--address", socket_, "--namespace", kNamespace};
    argv.insert(argv.end(), args.begin(), args.end());
    Subprocess p(argv);
    int rc = p.wait_for(60s);
    return {rc, p.output()};
}

}  // namespace tracer::fixtures
