#include "containers/cgroup_path_parser.h"

#include <algorithm>
#include <vector>

namespace tracer::containers {
namespace {

bool is_container_id(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

bool consume_prefix(std::string_view& s, std::string_view prefix) {
    if (!s.starts_with(prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
}

bool consume_suffix(std::string_view& s, std::string_view suffix) {
    if (!s.ends_with(suffix)) return false;
    s.remove_suffix(suffix.size());
    return true;
}

std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) out.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

// Kubernetes pod uid from "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid_>.slice"
// (systemd, dashes escaped as underscores).
std::string pod_uid_of(std::string_view c) {
    if (consume_suffix(c, ".slice")) {
        size_t at = c.rfind("-pod");
        if (!c.starts_with("kubepods") || at == std::string_view::npos) return "";
        std::string uid(c.substr(at + 4));
        std::replace(uid.begin(), uid.end(), '_', '-');
        return uid;
    }
    if (consume_prefix(c, "pod") && c.size() >= 32) return std::string(c);
    return "";
}

// The runtime named by one path component "<prefix><id>[.scope]", if any.
std::optional<ContainerRef> scoped_id(std::string_view c) {
    struct Prefix {
        std::string_view text;
        ContainerRuntime runtime;
    };
    static constexpr Prefix prefixes[] = {
        {"docker-", ContainerRuntime::Docker},
        {"cri-containerd-", ContainerRuntime::Containerd},
        {"crio-", ContainerRuntime::Crio},
        {"libpod-", ContainerRuntime::Podman},
    };
    std::string_view body = c;
    consume_suffix(body, ".scope");
    for (const auto& p : prefixes) {
        std::string_view id = body;
        if (consume_prefix(id, p.text) && is_container_id(id)) return ContainerRef{p.runtime, std::string(id), ""};
    }
    return std::nullopt;
}

// systemd-nspawn machines: "systemd-nspawn@<name>.service" or machined's
// "machine-<name>.scope" under machine.slice.
std::optional<ContainerRef> nspawn_machine(std::string_view c, std::string_view parent) {
    std::string_view name = c;
    if (consume_prefix(name, "systemd-nspawn@") && consume_suffix(name, ".service") && !name.empty())
        return ContainerRef{ContainerRuntime::Nspawn, std::string(name), ""};
    name = c;
    if (parent == "machine.slice" && consume_prefix(name, "machine-") && consume_suffix(name, ".scope") &&
        !name.empty())
        return ContainerRef{ContainerRuntime::Nspawn, std::string(name), ""};
    return std::nullopt;
}

}  // namespace

const char* runtime_name(ContainerRuntime r) {
    switch (r) {
    case ContainerRuntime::Docker: return "docker";
    case ContainerRuntime::Containerd: return "containerd";
    case ContainerRuntime::Crio: return "cri-o";
    case ContainerRuntime::Podman: return "podman";
    case ContainerRuntime::Kubernetes: return "kubernetes";
    case ContainerRuntime::Nspawn: return "nspawn";
    }
    return "?";
}

std::optional<ContainerRef> container_from_cgroup_path(std::string_view cgroup_path) {
    auto parts = components(cgroup_path);
    // Innermost first: a sub-cgroup belongs to the container above it.
    for (size_t i = parts.size(); i-- > 0;) {
        std::string_view c = parts[i];
        std::string_view parent = i > 0 ? parts[i - 1] : std::string_view{};
        std::optional<ContainerRef> ref = scoped_id(c);
        if (!ref && is_container_id(c)) {
            if (parent == "docker") {
                ref = ContainerRef{ContainerRuntime::Docker, std::string(c), ""};
            } else if (parent == "libpod_parent" || parent.starts_with("libpod-")) {
                ref = ContainerRef{ContainerRuntime::Podman, std::string(c), ""};
            } else if (!pod_uid_of(parent).empty()) {
                ref = ContainerRef{ContainerRuntime::Kubernetes, std::string(c), ""};
            }
        }
        if (!ref) ref = nspawn_machine(c, parent);
        if (!ref) continue;
        for (size_t j = i; j-- > 0;) {
            if (!parts[j].starts_with("pod") && !parts[j].starts_with("kubepods")) continue;
            if (auto uid = pod_uid_of(parts[j]); !uid.empty()) {
                ref->pod_uid = uid;
                break;
            }
        }
        return ref;
    }
    return std::nullopt;
}

}  // namespace tracer::containers
