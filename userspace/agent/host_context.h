// What every command that looks at this host shares: the cgroup layout and
// the hierarchy that keys per-cgroup data (under --host-root), the resolver
// from cgroup ids to paths, and the container metadata (Docker Engine API,
// followed even when its socket appears later; containerd/CRI-O bundles)
// with its bounded cache and the tagger that turns a cgroup path into tags.
// `tracer run`, `tracer trace`, `tracer top` and `tracer status` build it in
// one place, so they cannot drift apart in how they find or name things.
#pragma once

#include "collectors/host_services.h"
#include "config/agent_config.h"
#include "containers/cgroup_layout.h"
#include "containers/cgroup_resolver.h"
#include "containers/container_metadata.h"
#include "containers/container_tagger.h"
#include "metrics/source.h"

#include <chrono>
#include <memory>
#include <shared_mutex>
#include <optional>
#include <string>
#include <vector>

namespace tracer::containers {
class DockerMetadataProvider;
class OciBundleReader;
}  // namespace tracer::containers

namespace tracer::agent {

class HostContext {
public:
    // Reads the layout and picks the keying (throws config::ConfigError for
    // a hierarchy that is not mounted), starts the metadata providers.
    explicit HostContext(const config::AgentConfig& cfg);
    ~HostContext();
    HostContext(const HostContext&) = delete;
    HostContext& operator=(const HostContext&) = delete;

    // `path` on the host: under --host-root when one is set.
    std::string host_path(const std::string& path) const;

    const containers::CgroupLayout& layout() const { return layout_; }
    const containers::CgroupKeying& keying() const { return keying_; }
    // Where cgroup2 is mounted ("" = nowhere): the network area attaches there.
    std::string cgroup2_root() const;
    containers::CgroupResolver& resolver() { return resolver_; }
    containers::MetadataCache& metadata() { return *metadata_; }
    const containers::ContainerTagger& tagger() const { return *tagger_; }

    // The container name of a cgroup path, from the cache (a Kubernetes
    // container's <pod>/<container>: containers::container_display_name): ""
    // for a cgroup that is no container; nullopt for a container whose
    // metadata has not arrived yet (it is then queued for the providers; never waits).
    std::optional<std::string> container_name(const std::string& cgroup_path) const;

    // For integration plugins (collectors/host_services.h): the host root, the
    // layout, the tagger's container labels, the Docker socket and a wait for
    // the Docker names. It refers
    // to this context, which must outlive every plugin runner given it.
    std::shared_ptr<const collectors::HostServices> plugin_services() const;

    // True once the Docker provider has named the containers running now,
    // or when there is no Docker socket to wait for.
    bool docker_names_ready() const;

    // Docker and containerd/CRI-O metadata: one SourceStatus each ("metadata").
    std::vector<metrics::SourceStatus> status() const;

private:
    std::string host_root_;
    containers::CgroupLayout layout_;
    containers::CgroupKeying keying_;
    containers::CgroupResolver resolver_;
    std::unique_ptr<containers::MetadataCache> metadata_;  // outlives the providers (declared first)
    std::unique_ptr<containers::ContainerTagger> tagger_;
    std::string docker_socket_;
    std::unique_ptr<containers::DockerMetadataProvider> docker_;
    std::shared_ptr<containers::OciBundleReader> oci_;
    std::unique_ptr<containers::MetadataLookups> lookups_;
    // What the plugins' HostServices reach this context through: a check
    // abandoned past its deadline may still run after the agent let go of
    // this context; the destructor clears `ctx` under the lock first.
    struct ServicesGuard {
        std::shared_mutex mu;
        const HostContext* ctx = nullptr;
    };
    std::shared_ptr<ServicesGuard> services_guard_;
};

}  // namespace tracer::agent
