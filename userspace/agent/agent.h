// The agent's main job (`tracer run`): load the probes, then once per interval
// collect, publish to /metrics and log the busiest cgroups, until SIGINT or
// SIGTERM. Owns every thread it starts; returns only after all are stopped and
// every BPF program is detached.
#pragma once

#include "config/agent_config.h"

#include <stop_token>
#include <string>

namespace tracer::agent {

struct RunOptions {
    config::AgentConfig config;
    std::string btf_path;  // --btf: external BTF for kernels without /sys/kernel/btf/vmlinux
    // local API: in-process use (`tracer top` standalone runs the agent on a
    // thread with a private api_socket): stop when requested, as on SIGTERM.
    std::stop_token stop;
};

// Returns the process exit code. User-facing problems (privileges, kernel,
// address in use, ...) are thrown as std::runtime_error subclasses whose
// what() is the one-line message for the user.
int run_agent(const RunOptions& options);

}  // namespace tracer::agent
