#include "containers/cgroup_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace tracer::containers {
namespace {

constexpr int kMaxDepth = 32;  // cgroup trees are shallow; this bounds a pathological one

struct Dir {
    DIR* d = nullptr;
    explicit Dir(int fd) : d(fdopendir(fd)) {
        if (!d) close(fd);
    }
    ~Dir() {
        if (d) closedir(d);
    }
    Dir(const Dir&) = delete;
    Dir& operator=(const Dir&) = delete;
};

}  // namespace

CgroupResolver::CgroupResolver(std::string mount_point, std::string mount_root)
    : mount_point_(std::move(mount_point)), mount_root_(std::move(mount_root)) {
    if (mount_root_ == "/") mount_root_.clear();
}

void CgroupResolver::learn(uint64_t id, std::string path) {
    if (live_.count(id) || learned_.size() >= kMaxLearned) return;
    learned_[id] = std::move(path);
    ++generation_;
}

std::optional<std::string> CgroupResolver::lookup(uint64_t id) const {
    if (auto it = live_.find(id); it != live_.end()) return it->second;
    if (auto it = learned_.find(id); it != learned_.end()) return it->second;
    if (auto it = departed_.find(id); it != departed_.end()) return it->second;
    return std::nullopt;
}

void CgroupResolver::walk(int dirfd, std::string& rel, std::unordered_map<uint64_t, std::string>& out,
                          int depth) {
    Dir dir(dirfd);
    if (!dir.d) return;
    while (dirent* e = readdir(dir.d)) {
        if (e->d_type != DT_DIR || std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0)
            continue;
        size_t keep = rel.size();
        rel += '/';
        rel += e->d_name;
        // kernfs reports the node id as d_ino: no stat() per cgroup needed
        out.emplace(static_cast<uint64_t>(e->d_ino), mount_root_ + rel);
        if (depth < kMaxDepth) {
            int child = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (child >= 0) walk(child, rel, out, depth + 1);  // a cgroup removed meanwhile: skip it
        }
        rel.resize(keep);
    }
}

std::vector<uint64_t> CgroupResolver::rescan() {
    std::unordered_map<uint64_t, std::string> fresh;
    fresh.reserve(live_.size() + 16);
    struct stat st {};
    int fd = open(mount_point_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0) {
        fresh.emplace(static_cast<uint64_t>(st.st_ino), mount_root_.empty() ? "/" : mount_root_);
        std::string rel;
        walk(fd, rel, fresh, 0);
    } else if (fd >= 0) {
        close(fd);
    }
    std::vector<uint64_t> gone;
    departed_.clear();
    for (auto& [id, path] : live_) {
        if (!fresh.count(id)) {
            gone.push_back(id);
            departed_.emplace(id, std::move(path));
        }
    }
    for (auto& [id, path] : learned_) {
        if (!fresh.count(id)) {
            gone.push_back(id);
            departed_.emplace(id, std::move(path));
        }
    }
    learned_.clear();
    live_ = std::move(fresh);
    ++scans_;
    ++generation_;
    return gone;
}

}  // namespace tracer::containers
