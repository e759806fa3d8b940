#include "agent/host_context.h"

#include "containers/docker_client.h"
#include "containers/oci_bundle.h"
#include "log.h"

#include <filesystem>
#include <thread>

namespace tracer::agent {
namespace {

std::string root_of(const config::AgentConfig& cfg) {
    return cfg.host_root == "/" ? "" : cfg.host_root;
}

containers::CgroupLayout read_layout(const std::string& host_root) {
    return containers::read_cgroup_layout("/proc/self/mountinfo", host_root);
}

}  // namespace

HostContext::HostContext(const config::AgentConfig& cfg)
    : host_root_(root_of(cfg)),
      layout_(read_layout(host_root_)),
      keying_(containers::choose_cgroup_keying(layout_, cfg.cgroup_hierarchy, host_path("/proc/cgroups"))),
      resolver_(keying_.mount_point, keying_.mount_root) {
    metadata_ = std::make_unique<containers::MetadataCache>(size_t(cfg.max_cgroups) * 2 + 64);
    containers::ContainerTaggerOptions tag_options;
    tag_options.labels_as_tags = cfg.container_labels_as_tags;
    tag_options.include = cfg.container_include;
    tag_options.exclude = cfg.container_exclude;
    tag_options.proc_root = host_path("/proc");
    tag_options.keying = keying_;
    tagger_ = std::make_unique<containers::ContainerTagger>(*metadata_, tag_options);

    // Providers fill the cache on their own threads; readers never wait.
    std::vector<containers::MetadataLookups::Lookup> lookups;
    if (!cfg.docker_socket.empty()) {
        // Followed even when absent now: a dockerd started later is picked up.
        docker_socket_ = host_path(cfg.docker_socket);
        docker_ = std::make_unique<containers::DockerMetadataProvider>(docker_socket_, *metadata_);
        lookups.push_back([d = docker_.get()](const std::string& id) { return d->inspect(id); });
    }
    oci_ = std::make_shared<containers::OciBundleReader>(host_path("/run"));
    if (oci_->available()) {
        LOG_INFO("containerd/CRI-O bundles under %s: containers named from their annotations",
                 host_path("/run").c_str());
        lookups.push_back([oci = oci_](const std::string& id) { return oci->lookup(id); });
    }
    if (!lookups.empty())
        lookups_ = std::make_unique<containers::MetadataLookups>(*metadata_, std::move(lookups));
    services_guard_ = std::make_shared<ServicesGuard>();
    services_guard_->ctx = this;
}

HostContext::~HostContext() {
    {
        std::unique_lock lock(services_guard_->mu);
        services_guard_->ctx = nullptr;
    }
    lookups_.reset();  // its thread calls the providers: stop it first
    docker_.reset();
}

std::string HostContext::host_path(const std::string& path) const {
    return host_root_.empty() ? path : host_root_ + path;
}

std::string HostContext::cgroup2_root() const {
    const auto* v2 = layout_.unified();
    return v2 ? v2->mount_point : "";
}

std::optional<std::string> HostContext::container_name(const std::string& cgroup_path) const {
    auto tags = tagger_->tags_for_path(cgroup_path);
    if (!tags.known) return std::nullopt;
    // tags 2, 4 and 6: container_name, pod, kube_container (containers/container_tagger.h)
    if (tags.labels.size() < 7) return "";
    return containers::container_display_name(tags.labels[2].value, tags.labels[4].value, tags.labels[6].value);
}

std::shared_ptr<const collectors::HostServices> HostContext::plugin_services() const {
    auto services = std::make_shared<collectors::HostServices>();
    services->host_root = host_root_;
    services->cgroup_layout = layout_;
    services->container_labels = [guard = services_guard_](const std::string& cgroup_path) {
        std::shared_lock lock(guard->mu);
        return guard->ctx ? guard->ctx->tagger().container_labels(cgroup_path) : std::nullopt;
    };
    services->docker_socket = docker_socket_;
    services->wait_for_container_names = [guard = services_guard_](std::chrono::milliseconds timeout) {
        auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            {
                std::shared_lock lock(guard->mu);
                if (!guard->ctx || guard->ctx->docker_names_ready()) return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    };
    return services;
}

bool HostContext::docker_names_ready() const {
    std::error_code ec;
    return !docker_ || !std::filesystem::exists(docker_socket_, ec) || docker_->connections() > 0;
}

std::vector<metrics::SourceStatus> HostContext::status() const {
    std::vector<metrics::SourceStatus> out;
    if (docker_) {
        // A host without Docker is not a fault: the socket is followed and
        // picked up when it appears. A socket that is there but never
        // answered is.
        std::error_code ec;
        bool present = std::filesystem::exists(docker_socket_, ec);
        bool connected = docker_->connections() > 0;
        out.push_back({"metadata", "docker", connected || !present,
                       connected  ? "following the Docker Engine API at " + docker_socket_
                       : present ? "cannot reach the Docker Engine API at " + docker_socket_
                                 : "no Docker socket at " + docker_socket_ + " (picked up when it appears)"});
    }
    if (oci_ && oci_->available())
        out.push_back({"metadata", "oci_bundles", true, "containerd/CRI-O bundles under " + host_path("/run")});
    return out;
}

}  // namespace tracer::agent
