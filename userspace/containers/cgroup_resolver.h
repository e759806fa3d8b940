// Maps cgroup keys (kernfs ids = inode numbers of cgroup directories) back to
// paths relative to their hierarchy's root ("/", "/system.slice/foo.service",
// "/docker/<id>"), by walking the mounted hierarchy. The agent re-scans when an
// unknown id shows up; ids that vanish are kept for one more scan so the last
// data point of a short-lived cgroup is still named.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tracer::containers {

class CgroupResolver {
public:
    // `mount_point`: where the hierarchy is mounted; `mount_root`: that mount's
    // root inside the hierarchy (mountinfo's 4th field, "/" on the host).
    CgroupResolver(std::string mount_point, std::string mount_root = "/");

    // A cgroup the kernel just created (cgroup:cgroup_mkdir), named before any
    // scan saw it: resolvable from now on; if it is gone at the next rescan it
    // is reported gone there like any other. `path` is relative to the
    // hierarchy root. At most kMaxLearned are kept between two scans.
    void learn(uint64_t id, std::string path);
    static constexpr size_t kMaxLearned = 65536;

    // Path of a known id (live, learnt, or gone since the last scan); nullopt if unknown.
    std::optional<std::string> lookup(uint64_t id) const;
    bool is_live(uint64_t id) const { return live_.count(id) != 0; }

    // Walks the hierarchy again. Ids that were live and are gone now move to
    // the departed set (still resolvable until the next rescan) and are
    // returned, so callers can release what they keep per cgroup.
    std::vector<uint64_t> rescan();

    // Calls f(path) for every cgroup that exists as far as the resolver knows:
    // found by the last scan, or learnt since (not the departed).
    template <class F>
    void for_each_present(F&& f) const {
        for (const auto& [id, path] : live_) f(path);
        for (const auto& [id, path] : learned_) f(path);
    }

    size_t live_count() const { return live_.size(); }
    uint64_t scans() const { return scans_; }
    // Grows whenever the present set may have changed (a scan, a cgroup learnt).
    uint64_t generation() const { return generation_; }

private:
    void walk(int dirfd, std::string& rel, std::unordered_map<uint64_t, std::string>& out, int depth);

    std::string mount_point_;
    std::string mount_root_;
    std::unordered_map<uint64_t, std::string> live_;
    std::unordered_map<uint64_t, std::string> departed_;
    std::unordered_map<uint64_t, std::string> learned_;
    uint64_t scans_ = 0;
    uint64_t generation_ = 0;
};

}  // namespace tracer::containers
