#include "containers/oci_bundle.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tracer::containers {
namespace {

std::string annotation(const nlohmann::json& a, const char* key) {
    auto it = a.find(key);
    return it != a.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string first_of(const nlohmann::json& a, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
        if (auto v = annotation(a, k); !v.empty()) return v;
    return "";
}

}  // namespace

std::optional<ContainerInfo> read_oci_bundle_config(const std::string& path, const std::string& id) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ociVersion")) return std::nullopt;
    ContainerInfo info;
    info.id = id;
    auto a = j.value("annotations", nlohmann::json::object());
    if (!a.is_object()) return info;
    // containerd's CRI plugin (io.kubernetes.cri.*) and CRI-O (io.kubernetes.*)
    info.pod = first_of(a, {"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"});
    info.pod_namespace = first_of(a, {"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"});
    info.kube_container = first_of(a, {"io.kubernetes.cri.container-name", "io.kubernetes.container.name"});
    info.image = first_of(a, {"io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName",
                              "io.kubernetes.cri-o.Image"});
    bool sandbox = annotation(a, "io.kubernetes.cri.container-type") == "sandbox" ||
                   annotation(a, "io.kubernetes.cri-o.ContainerType") == "sandbox";
    // Kubernetes has no container name of its own beyond these: the pause
    // sandbox is named after its pod, every other container after its spec name.
    info.name = sandbox ? info.pod : info.kube_container;
    // CRI-O keeps the pod's labels as one JSON string
    auto labels = nlohmann::json::parse(annotation(a, "io.kubernetes.cri-o.Labels"), nullptr, false);
    if (!labels.is_discarded() && labels.is_object())
        for (auto& [k, v] : labels.items())
            if (v.is_string()) info.labels[k] = v.get<std::string>();
    return info;
}

OciBundleReader::OciBundleReader(std::string run_dir)
    : containerd_tasks_(run_dir + "/containerd/io.containerd.runtime.v2.task"),
      crio_containers_(run_dir + "/containers/storage/overlay-containers") {}

bool OciBundleReader::available() const {
    std::error_code ec;
    return std::filesystem::is_directory(containerd_tasks_, ec) || std::filesystem::is_directory(crio_containers_, ec);
}

std::optional<ContainerInfo> OciBundleReader::lookup(const std::string& id) const {
    if (id.empty() || id.find('/') != std::string::npos) return std::nullopt;
    std::error_code ec;
    // containerd: one directory per namespace (k8s.io, moby, default, ...)
    for (auto it = std::filesystem::directory_iterator(containerd_tasks_, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (auto info = read_oci_bundle_config(it->path().string() + "/" + id + "/config.json", id)) return info;
    }
    return read_oci_bundle_config(crio_containers_ + "/" + id + "/userdata/config.json", id);
}

}  // namespace tracer::containers
