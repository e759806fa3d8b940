// The agent's main job (`tracer run`): build the host context and every
// source (the kernel areas, the DogStatsD server, the integration plugins),
// then once per interval let each source add to the interval, publish the
// result to /metrics and hand it to the sinks, until SIGINT or SIGTERM (or
// the stop token of an embedding command). Owns every thread it starts;
// returns only after all are stopped and every BPF program is detached.
#pragma once

#include "config/agent_config.h"
#include "metrics/series.h"
#include "metrics/source.h"

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

namespace tracer::agent {

struct RunOptions {
    config::AgentConfig config;
    std::string btf_path;  // --btf: external BTF for kernels without /sys/kernel/btf/vmlinux
    // Embedding (e.g. `tracer top` without an agent): when `stop` can be
    // requested, the agent stops on it and leaves the process's signals alone.
    std::stop_token stop;
    // Where each interval's snapshot is published (besides /metrics); null = the agent's own.
    std::shared_ptr<metrics::LatestSnapshot> latest;
};

// Returns the process exit code. User-facing problems (bad config, address in
// use, ...) are thrown as std::runtime_error subclasses whose what() is the
// one-line message for the user. Missing BPF permission, BTF or kernel
// support is not one of them: the agent runs without the kernel areas.
int run_agent(const RunOptions& options);

}  // namespace tracer::agent
