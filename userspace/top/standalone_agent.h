// `tracer top` without a running agent: the agent's own collection runs on a
// thread of this process (no /metrics, no DogStatsD, no sinks) and serves a
// private local API socket in a 0700 directory of its own, which the view
// then reads exactly as it reads a running agent.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace tracer::top {

class StandaloneAgent {
public:
    // Checks the kernel, BPF privileges and BTF first: throws
    // std::runtime_error with the one-line reason when the probes cannot run.
    StandaloneAgent(double interval_seconds, std::string btf_path);
    ~StandaloneAgent();  // stops the agent, joins it, removes the directory
    StandaloneAgent(const StandaloneAgent&) = delete;
    StandaloneAgent& operator=(const StandaloneAgent&) = delete;

    // Waits until the private API answers (the probes are loaded). Throws
    // with the agent's own error if it stopped instead.
    void wait_ready(double timeout_seconds);
    const std::string& socket_path() const { return socket_; }
    bool finished() const { return finished_.load(); }
    std::string error() const;

private:
    std::string dir_, socket_;
    std::atomic<bool> finished_{false};
    mutable std::mutex mu_;
    std::string error_;
    std::jthread thread_;
};

}  // namespace tracer::top
