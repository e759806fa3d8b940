#include "containers/container_tagger.h"

#include "containers/cgroup_path_parser.h"

#include <fstream>
#include <sstream>

namespace tracer::containers {

std::string container_display_name(std::string_view name, std::string_view pod, std::string_view kube_container) {
    if (pod.empty()) return std::string(name);
    return std::string(pod) + "/" + std::string(kube_container.empty() ? std::string_view("POD") : kube_container);
}

ContainerTagger::ContainerTagger(MetadataCache& cache, ContainerTaggerOptions options)
    : cache_(cache), options_(std::move(options)) {
    names_ = {"cgroup", "container_id", "container_name", "image", "pod", "namespace", "kube_container"};
    for (const auto& [label, tag] : options_.labels_as_tags) names_.push_back(tag);
    include_ = compile(options_.include);
    exclude_ = compile(options_.exclude);
}

std::vector<ContainerTagger::Filter> ContainerTagger::compile(const std::vector<std::string>& filters) {
    std::vector<Filter> out;
    for (const auto& f : filters) {
        bool by_image = f.rfind("image:", 0) == 0;
        out.push_back({by_image, Pattern(f.substr(f.find(':') + 1))});
    }
    return out;
}

bool ContainerTagger::matches(const std::vector<Filter>& filters, const ContainerInfo& info) {
    for (const auto& f : filters)
        if (f.re.search(f.by_image ? info.image : info.name)) return true;
    return false;
}

ContainerTagger::Tags ContainerTagger::tags_for_path(const std::string& cgroup_path) const {
    Tags t;
    t.labels.reserve(names_.size());
    for (const auto& n : names_) t.labels.push_back({n, ""});
    t.labels[0].value = cgroup_path;
    auto ref = container_from_cgroup_path(cgroup_path);
    if (!ref) return t;
    remember_path(ref->id, cgroup_path);
    auto info = cache_.find(ref->id);
    if (!info) {
        t.known = false;  // named from the next interval on
        return t;
    }
    if (!exclude_.empty() && matches(exclude_, *info) && !matches(include_, *info)) t.excluded = true;
    t.labels[1].value = ref->runtime == ContainerRuntime::Nspawn ? ref->id : ref->id.substr(0, 12);
    t.labels[2].value = info->name;
    t.labels[3].value = info->image;
    t.labels[4].value = info->pod;
    t.labels[5].value = info->pod_namespace;
    t.labels[6].value = info->kube_container;
    for (size_t i = 0; i < options_.labels_as_tags.size(); ++i)
        if (auto it = info->labels.find(options_.labels_as_tags[i].first); it != info->labels.end())
            t.labels[7 + i].value = it->second;
    return t;
}

std::optional<metrics::Labels> ContainerTagger::container_labels(const std::string& cgroup_path) const {
    auto ref = container_from_cgroup_path(cgroup_path);
    if (!ref) return std::nullopt;
    auto t = tags_for_path(cgroup_path);
    if (t.excluded) return std::nullopt;
    if (!t.known) t.labels[1].value = ref->runtime == ContainerRuntime::Nspawn ? ref->id : ref->id.substr(0, 12);
    return std::move(t.labels);
}

std::optional<std::string> ContainerTagger::keyed_path(const std::string& text, const CgroupKeying& keying) {
    std::istringstream in(text);
    std::string line;
    const bool unified = keying.hierarchy == "unified";
    while (std::getline(in, line)) {
        // hierarchy-id:controller,list:path
        size_t a = line.find(':');
        size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1);
        bool match = false;
        if (unified) {
            match = line.compare(0, a, "0") == 0 && controllers.empty();
        } else {
            std::istringstream cs(controllers);
            for (std::string c; std::getline(cs, c, ',');) match |= c == keying.hierarchy;
        }
        if (match) return line.substr(b + 1);
    }
    return std::nullopt;
}

void ContainerTagger::remember_path(const std::string& id, const std::string& cgroup_path) const {
    constexpr size_t kMaxPaths = 8192;  // ids of containers gone long ago go with the next clear
    std::lock_guard lock(paths_mu_);
    if (path_of_id_.size() >= kMaxPaths && !path_of_id_.count(id)) path_of_id_.clear();
    path_of_id_[id] = cgroup_path;
}

metrics::Labels ContainerTagger::labels_for_container_id(std::string_view id) const {
    std::optional<std::string> path;
    {
        std::lock_guard lock(paths_mu_);
        if (auto it = path_of_id_.find(std::string(id)); it != path_of_id_.end()) {
            path = it->second;
        } else if (id.size() >= 12) {
            for (const auto& [full, p] : path_of_id_)
                if (full.compare(0, id.size(), id) == 0) {
                    path = p;
                    break;
                }
        }
    }
    if (!path) return {{"container_id", std::string(id.substr(0, 12))}};
    auto t = tags_for_path(*path);
    if (t.excluded) return {};
    return std::move(t.labels);
}

metrics::Labels ContainerTagger::labels_for_pid(pid_t pid) const {
    std::ifstream in(options_.proc_root + "/" + std::to_string(pid) + "/cgroup");
    if (!in) return {};
    std::stringstream ss;
    ss << in.rdbuf();
    auto path = keyed_path(ss.str(), options_.keying);
    if (!path) return {};
    auto t = tags_for_path(*path);
    if (t.excluded) return {};
    return std::move(t.labels);
}

}  // namespace tracer::containers
