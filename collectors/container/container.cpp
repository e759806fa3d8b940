// container: per container, memory, CPU throttling, block I/O, pids and OOM
// kills from its cgroup files (v1 or v2), with the tags the kernel series
// carry; and how many containers Docker has running, paused and stopped.
// Names follow Datadog's container and docker checks.
#include "collectors/container/container.h"

#include "collectors/container/cgroup_stats.h"
#include "collectors/host_services.h"
#include "collectors/instance_keys.h"
#include "containers/docker_client.h"
#include "log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

namespace tracer::collectors {
namespace fs = std::filesystem;
namespace {

// kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
// is 4 deep; nested runtimes add a few more.
constexpr size_t kMaxDepth = 8;
constexpr size_t kMaxReportedProblems = 1024;
constexpr std::chrono::milliseconds kNamesWait{2000};  // on the first run, at most

std::chrono::milliseconds time_left(const CheckRun& out) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(out.deadline() - std::chrono::steady_clock::now());
}

bool any_match(const std::vector<Pattern>& patterns, const std::string& s) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const Pattern& p) { return p.search(s); });
}

std::string label_value(const metrics::Labels& labels, const std::string& name) {
    for (const auto& l : labels)
        if (l.name == name) return l.value;
    return "";
}

class ContainerCheck : public Check {
public:
    explicit ContainerCheck(const InstanceConfig& cfg)
        : host_(cfg.host ? cfg.host : host_services_from_paths(cfg.host_root)),
          docker_counts_(bool_key(cfg, "docker_state_counts", true)),
          include_(pattern_list_key(cfg, "include")),
          exclude_(pattern_list_key(cfg, "exclude")) {}

    void run(CheckRun& out) override {
        if (first_run_ && host_->wait_for_container_names) {
            // The agent (or `tracer check`) has just started: let the Docker
            // provider name what runs now rather than report it by id once.
            host_->wait_for_container_names(std::clamp(time_left(out) / 2, std::chrono::milliseconds(0), kNamesWait));
        }
        first_run_ = false;
        std::string docker_problem = docker_states(out);
        std::vector<std::string> problems;
        size_t containers = cgroups(out, problems);
        for (const auto& p : problems)
            if (reported_.size() < kMaxReportedProblems && reported_.insert(p).second) LOG_WARN("container: %s", p.c_str());
        std::string message = std::to_string(containers) + " containers";
        if (!problems.empty())
            message += "; " + std::to_string(problems.size()) + " cgroup file(s) not usable, first: " + problems[0];
        if (!docker_problem.empty())
            out.service_check("container.can_connect", CheckStatus::Warning,
                              "Docker state counts: " + docker_problem + "; " + message);
        else
            out.service_check("container.can_connect", CheckStatus::Ok, message);
    }

private:
    // Walks the hierarchy that has the memory controller (else pids, cpu) and
    // reports every cgroup the agent names a container. Throws when the tree
    // cannot be read at all.
    size_t cgroups(CheckRun& out, std::vector<std::string>& problems) {
        CgroupFiles files(host_->cgroup_layout);
        const containers::CgroupMount* walked = nullptr;
        for (const char* c : {"memory", "pids", "cpu"})
            if ((walked = files.mount_of(c))) break;
        if (!walked)
            throw std::runtime_error("no cgroup hierarchy is mounted" +
                                     (host_->host_root.empty() ? std::string() : " under " + host_->host_root));
        std::error_code ec;
        fs::directory_iterator top(walked->mount_point, ec);
        if (ec) throw std::runtime_error("cannot read the cgroup tree at " + walked->mount_point + ": " + ec.message());
        std::string root = walked->root == "/" ? "" : walked->root;
        size_t found = 0;
        walk(walked->mount_point, root, 1, [&](const std::string& cgroup_path, metrics::Labels labels) {
            std::string name = label_value(labels, "container_name");
            if (!include_.empty() && !any_match(include_, name)) return;
            if (!name.empty() && any_match(exclude_, name)) return;
            ++found;
            report(out, read_cgroup_stats(files, cgroup_path, problems), labels);
        });
        return found;
    }

    // Depth-first below `dir` (the cgroup `path`): a container's cgroup is
    // reported and not descended into (its sub-cgroups are part of it).
    template <typename OnContainer>
    void walk(const std::string& dir, const std::string& path, size_t depth, const OnContainer& on_container) {
        if (depth > kMaxDepth) return;
        std::error_code ec;
        // A cgroup removed while we walk is simply gone: no error.
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
            std::string child = path + "/" + it->path().filename().string();
            if (auto labels = host_->container_labels(child))
                on_container(child, std::move(*labels));
            else
                walk(it->path().string(), child, depth + 1, on_container);
        }
    }

    static void report(CheckRun& out, const CgroupStats& s, const metrics::Labels& l) {
        auto gauge = [&](const char* name, const std::optional<double>& v, const char* unit) {
            if (v) out.gauge(name, *v, l, unit);
        };
        auto count = [&](const char* name, const std::optional<double>& v, const char* unit) {
            if (v) out.monotonic_count(name, *v, l, unit);
        };
        auto rate = [&](const char* name, const std::optional<double>& v, const char* unit) {
            if (v) out.rate(name, *v, l, unit);
        };
        gauge("container.memory.usage", s.memory_usage, "bytes");
        gauge("container.memory.limit", s.memory_limit, "bytes");
        gauge("container.memory.rss", s.memory_rss, "bytes");
        gauge("container.memory.cache", s.memory_cache, "bytes");
        gauge("container.memory.working_set", s.memory_working_set, "bytes");
        count("container.memory.page_faults", s.page_faults, "");
        count("container.memory.major_page_faults", s.major_page_faults, "");
        count("container.memory.oom_events", s.oom_kills, "");
        rate("container.cpu.periods", s.cpu_periods, "");
        rate("container.cpu.throttled.periods", s.cpu_throttled_periods, "");
        rate("container.cpu.throttled", s.cpu_throttled_ns, "nanoseconds");
        rate("container.cpu.partial_stall", s.cpu_partial_stall_ns, "nanoseconds");
        rate("container.memory.partial_stall", s.memory_partial_stall_ns, "nanoseconds");
        rate("container.memory.full_stall", s.memory_full_stall_ns, "nanoseconds");
        rate("container.io.partial_stall", s.io_partial_stall_ns, "nanoseconds");
        rate("container.io.full_stall", s.io_full_stall_ns, "nanoseconds");
        rate("container.io.read", s.io_read_bytes, "bytes");
        rate("container.io.write", s.io_write_bytes, "bytes");
        rate("container.io.read.operations", s.io_read_ops, "");
        rate("container.io.write.operations", s.io_write_ops, "");
        gauge("container.pid.thread_count", s.pids, "");
        gauge("container.pid.thread_limit", s.pids_limit, "");
    }

    // docker.containers.* from the Docker Engine API; the reason when that failed ("" if not).
    std::string docker_states(CheckRun& out) {
        if (!docker_counts_) return "";
        if (host_->docker_socket.empty()) return "no Docker socket configured (docker_socket in tracer.yaml)";
        try {
            if (!docker_) docker_ = std::make_unique<containers::DockerClient>(host_->docker_socket);
            auto body = docker_->get("/containers/json?all=1", std::max(time_left(out), std::chrono::milliseconds(100)));
            if (!body) throw std::runtime_error("unix://" + host_->docker_socket + ": GET /containers/json: not found");
            DockerStateCounts total;
            for (const auto& [image, c] : docker_state_counts(*body)) {
                metrics::Labels l{{"image", image}};
                out.gauge("docker.containers.running", c.running, l);
                out.gauge("docker.containers.paused", c.paused, l);
                out.gauge("docker.containers.stopped", c.stopped, l);
                total.running += c.running;
                total.paused += c.paused;
                total.stopped += c.stopped;
            }
            out.gauge("docker.containers.running.total", total.running);
            out.gauge("docker.containers.paused.total", total.paused);
            out.gauge("docker.containers.stopped.total", total.stopped);
            return "";
        } catch (const std::exception& e) {
            docker_.reset();  // a fresh connection next run
            return e.what();
        }
    }

    std::shared_ptr<const HostServices> host_;
    bool docker_counts_;
    std::vector<Pattern> include_, exclude_;
    std::unique_ptr<containers::DockerClient> docker_;
    std::set<std::string> reported_;  // problems logged once
    bool first_run_ = true;
};

}  // namespace

std::map<std::string, DockerStateCounts> docker_state_counts(const std::string& body) {
    auto list = nlohmann::json::parse(body, nullptr, false);
    if (!list.is_array())
        throw std::runtime_error("GET /containers/json: not a JSON list of containers: '" + body.substr(0, 80) + "'");
    std::map<std::string, DockerStateCounts> out;
    for (const auto& c : list) {
        if (!c.is_object()) continue;
        std::string image = c.contains("Image") && c["Image"].is_string() ? c["Image"].get<std::string>() : "";
        std::string state = c.contains("State") && c["State"].is_string() ? c["State"].get<std::string>() : "";
        auto& counts = out[image];
        if (state == "running")
            counts.running += 1;
        else if (state == "paused")
            counts.paused += 1;
        else
            counts.stopped += 1;
    }
    return out;
}

PluginInfo container_plugin() {
    return {"container", "per-container memory, CPU throttling, block I/O, pids and OOM kills from the cgroup files; "
                         "Docker container counts by state",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<ContainerCheck>(cfg); },
            {"docker_state_counts", "include", "exclude"}};
}

}  // namespace tracer::collectors
