#pragma once
#include "collectors/plugin.h"

#include <map>
#include <string>

namespace tracer::collectors {
PluginInfo container_plugin();

// Containers per state in a Docker Engine API GET /containers/json?all=1
// answer, per image: "running", "paused", and "stopped" for every other state
// (created, exited, dead, restarting, removing), as `docker info` counts them.
struct DockerStateCounts {
    double running = 0, paused = 0, stopped = 0;
};
// Throws std::runtime_error when `body` is not a JSON array of containers.
std::map<std::string, DockerStateCounts> docker_state_counts(const std::string& body);
}  // namespace tracer::collectors
