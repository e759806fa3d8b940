// Container metadata without Docker: the OCI bundle's config.json that
// containerd and CRI-O write under /run for every container, whose
// annotations the CRI fills with the pod, namespace, container and image
// names. Plain files on the host: no gRPC, no runtime client.
#pragma once

#include "containers/container_metadata.h"

#include <optional>
#include <string>
#include <vector>

namespace tracer::containers {

// Reads one bundle's config.json. nullopt when the file is missing or is not
// an OCI config; a config without CRI annotations still gives the id.
std::optional<ContainerInfo> read_oci_bundle_config(const std::string& config_json_path, const std::string& id);

// Where containerd and CRI-O keep the bundles, under `run_dir` (the host's
// /run): <run>/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/ and
// <run>/containers/storage/overlay-containers/<id>/userdata/.
class OciBundleReader {
public:
    explicit OciBundleReader(std::string run_dir);
    // True if either runtime's bundle directory exists (auto-detection).
    bool available() const;
    std::optional<ContainerInfo> lookup(const std::string& id) const;

private:
    std::string containerd_tasks_;
    std::string crio_containers_;
};

}  // namespace tracer::containers
