#include "collectors/host_services.h"

#include "containers/cgroup_path_parser.h"

namespace tracer::collectors {

std::shared_ptr<const HostServices> host_services_from_paths(const std::string& host_root) {
    auto services = std::make_shared<HostServices>();
    services->host_root = host_root == "/" ? "" : host_root;
    services->cgroup_layout = containers::read_cgroup_layout("/proc/self/mountinfo", services->host_root);
    services->container_labels = [](const std::string& cgroup_path) -> std::optional<metrics::Labels> {
        auto ref = containers::container_from_cgroup_path(cgroup_path);
        if (!ref) return std::nullopt;
        bool full_id = ref->runtime == containers::ContainerRuntime::Nspawn;
        return metrics::Labels{{"cgroup", cgroup_path}, {"container_id", full_id ? ref->id : ref->id.substr(0, 12)}};
    };
    services->docker_socket = services->host_root + "/var/run/docker.sock";
    return services;
}

}  // namespace tracer::collectors
