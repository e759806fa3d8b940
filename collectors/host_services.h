// What the agent shares with plugins that look at this host rather than at a
// server: where the host's / is, its cgroup hierarchies and the agent's own
// container naming, so a plugin's per-container series carry the same tags as
// the kernel series. `tracer run` and `tracer check` build it from the host
// context (userspace/agent/host_context.h); a test may build one by hand.
#pragma once

#include "containers/cgroup_layout.h"
#include "metrics/series.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace tracer::collectors {

struct HostServices {
    std::string host_root;                // "" or the --host-root prefix
    containers::CgroupLayout cgroup_layout;  // mount points already under host_root
    // The tags of a cgroup path (relative to its hierarchy's root, "/docker/<id>"):
    // nullopt when the cgroup is no container (or one the agent's
    // container_exclude leaves out). A container whose names are not known yet
    // has its container_id and the cgroup. Thread-safe, never waits.
    std::function<std::optional<metrics::Labels>(const std::string& cgroup_path)> container_labels;
    std::string docker_socket;            // the Docker Engine API socket (under host_root); "" = none
    // Waits at most the given time until the Docker containers running now
    // are named (returns at once without a Docker socket): for a first run
    // that should not report them by id only. May be empty.
    std::function<void(std::chrono::milliseconds)> wait_for_container_names;
};

// Without the agent's host context (a plugin test, an instance loaded on its
// own): the layout read from /proc/self/mountinfo (mounts under `host_root`),
// containers told apart by their cgroup path alone (labels cgroup and
// container_id, no names), Docker at <host_root>/var/run/docker.sock.
std::shared_ptr<const HostServices> host_services_from_paths(const std::string& host_root);

}  // namespace tracer::collectors
