// Which container (if any) a cgroup path belongs to, from the path alone:
// every common runtime and cgroup driver names its cgroups after the
// container id. Paths are relative to the hierarchy root, v1 or v2 alike.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tracer::containers {

enum class ContainerRuntime {
    Docker,      // /docker/<id>, docker-<id>.scope
    Containerd,  // cri-containerd-<id>.scope
    Crio,        // crio-<id>.scope
    Podman,      // libpod-<id>(.scope), /libpod_parent/...
    Kubernetes,  // a bare <id> under a kubepods pod cgroup (cgroupfs driver): the runtime is not in the path
    Nspawn,      // systemd-nspawn@<machine>.service, machine-<machine>.scope
};

const char* runtime_name(ContainerRuntime r);

struct ContainerRef {
    ContainerRuntime runtime;
    std::string id;       // 64 hex digits; for nspawn the machine name
    std::string pod_uid;  // Kubernetes pod uid (dashes), "" outside kubepods
    bool operator==(const ContainerRef&) const = default;
};

// The container of `cgroup_path`, or nullopt for anything else (system
// services, user sessions, test cgroups). Sub-cgroups of a container (e.g.
// /docker/<id>/init.scope) belong to it; nested containers to the innermost.
std::optional<ContainerRef> container_from_cgroup_path(std::string_view cgroup_path);

}  // namespace tracer::containers
