#include "tracer_agent.h"

#include "api/local_api_client.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace tracer::fixtures {

std::string make_temp_dir(const std::string& prefix) {
    std::string t = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp " + t);
    return t;
}

ApiAgent::ApiAgent(const std::string& binary, const std::string& more_config, double interval) {
    dir_ = make_temp_dir("tracer-api-agent");
    socket_ = dir_ + "/api.sock";
    std::string config = dir_ + "/tracer.yaml";
    std::ofstream(config) << "metrics_addr: \"\"\n"
                          << "statsd:\n  enabled: false\n"
                          << "api_socket: \"" << socket_ << "\"\n"
                          << "api_events: [oom, exec, exit, tcp]\n"
                          << more_config;
    process_ = std::make_unique<Subprocess>(
        std::vector<std::string>{binary, "run", "-c", config, "--interval", std::to_string(interval)});
    api::LocalApiClient client(socket_, std::chrono::seconds(2));
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end && process_->running()) {
        try {
            if (client.get("/v1/status").value("snapshots_published", 0) >= 1) return;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::string out = process_->output();
    process_->signal(SIGKILL);
    process_->wait_for(std::chrono::seconds(5));
    throw std::runtime_error("tracer run did not serve its local API at " + socket_ + "; it said:\n" + out);
}

ApiAgent::~ApiAgent() {
    if (process_ && process_->running()) {
        process_->signal(SIGTERM);
        process_->wait_for(std::chrono::seconds(15));
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

nlohmann::json ApiAgent::get(const std::string& path) const {
    return api::LocalApiClient(socket_, std::chrono::seconds(5)).get(path);
}

}  // namespace tracer::fixtures
