// A real containerd running Kubernetes-style containers, for the container
// tests: Debian's containerd (docker.io's dependency) with its own root,
// socket and state directory under /tmp, and containers started with `ctr` as
// the CRI plugin lays them out for a pod (no kubelet): a
// kubepods/<qos>/pod<uid>/<id> cgroup (runc's cgroupfs driver) and the
// io.kubernetes.cri.* annotations in the OCI bundle's config.json. The state
// directory sits at <host_root>/run/containerd, so that an agent started with
// --host-root host_root() finds the bundles where it finds a node's.
#pragma once

#include "fixtures.h"

#include <memory>
#include <string>
#include <vector>

namespace tracer::fixtures {

class ContainerdRuntime {
public:
    // "" when containerd, ctr and busybox-static are installed and we are root.
    static std::string skip_reason();
    ContainerdRuntime();  // throws std::runtime_error with containerd's log
    ~ContainerdRuntime();  // removes every container and the pods' cgroups, stops containerd
    ContainerdRuntime(const ContainerdRuntime&) = delete;
    ContainerdRuntime& operator=(const ContainerdRuntime&) = delete;

    // The directory holding run/containerd: the agent's --host-root once the
    // host's /proc and /sys are bound below it (see the test).
    const std::string& host_root() const { return host_root_; }

    struct Pod {
        std::string uid, name, ns;  // uid: a pod UID's shape (8-4-4-4-12 hex)
        bool systemd = false;       // cgroups named as the kubelet's systemd driver names them
    };
    static Pod make_pod(const std::string& name, const std::string& ns, bool systemd = false);
    // The pod's cgroup path: /kubepods/besteffort/pod<uid>, or with systemd
    // /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid, _ for ->.slice
    static std::string pod_cgroup(const Pod& pod);
    // A container's: <pod>/<id>, or <pod>/cri-containerd-<id>.scope
    static std::string container_cgroup(const Pod& pod, const std::string& id);

    // Starts a container of `pod` running `script` in busybox's sh, detached;
    // `container` "" starts the pod's sandbox instead. Returns its 64-hex id;
    // fails the test and returns "" when ctr fails.
    std::string run(const Pod& pod, const std::string& container, const std::string& image,
                    const std::string& script);
    // Kills and deletes a container (its task, bundle and cgroup).
    void remove(const std::string& id);

private:
    std::pair<int, std::string> ctr(const std::vector<std::string>& args);

    std::string dir_, host_root_, socket_, rootfs_;
    std::unique_ptr<Subprocess> containerd_;
    std::vector<std::string> ids_;
    std::vector<std::string> pod_cgroups_;
};

}  // namespace tracer::fixtures
