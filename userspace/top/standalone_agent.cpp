#include "top/standalone_agent.h"

#include "agent/agent.h"
#include "api/local_api_client.h"
#include "probes/bpf_support.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace tracer::top {

StandaloneAgent::StandaloneAgent(double interval_seconds, std::string btf_path) {
    probes::require_kernel_version();
    probes::require_bpf_privileges();
    probes::require_btf(btf_path);
    std::string templ = (std::filesystem::temp_directory_path() / "tracer-top-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("cannot create a private directory under " + templ);
    dir_ = templ;
    socket_ = dir_ + "/api.sock";

    agent::RunOptions o;
    o.btf_path = std::move(btf_path);
    auto& c = o.config;
    c.interval = interval_seconds;
    c.metrics_addr = "";
    c.statsd.enabled = false;
    c.sinks.clear();
    c.spool_dir = "";
    c.top_cgroups = 0;
    c.log_level = "error";
    c.api_socket = socket_;
    // A short interactive session can afford every event kind (one ring
    // record per exec, exit or closed connection).
    c.api_events = {"oom", "exec", "exit", "tcp"};
    thread_ = std::jthread([this, o](std::stop_token stop) mutable {
        o.stop = stop;
        try {
            agent::run_agent(o);
        } catch (const std::exception& e) {
            std::lock_guard lock(mu_);
            error_ = e.what();
        }
        finished_ = true;
    });
}

StandaloneAgent::~StandaloneAgent() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string StandaloneAgent::error() const {
    std::lock_guard lock(mu_);
    return error_;
}

void StandaloneAgent::wait_ready(double timeout_seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
    api::LocalApiClient client(socket_, std::chrono::seconds(2));
    while (std::chrono::steady_clock::now() < deadline) {
        if (finished_) {
            std::string e = error();
            throw std::runtime_error(e.empty() ? "the in-process agent stopped before it was ready" : e);
        }
        try {
            client.get("/v1/status");
            return;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("the in-process probes did not start within " + std::to_string(int(timeout_seconds)) + " s");
}

}  // namespace tracer::top
