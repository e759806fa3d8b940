// The JSON records of /v1/events (docs/api.md) for the kernel's process
// events and closed TCP connections. "cgroup" is added by the agent once it
// has named the cgroup key.
#pragma once

#include "probes/net_probe.h"
#include "probes/proc_probe.h"

#include <nlohmann/json.hpp>

namespace tracer::api {

nlohmann::json process_event_json(const probes::ProcEvent& e);
nlohmann::json connection_event_json(const probes::NetConnection& c);

}  // namespace tracer::api
