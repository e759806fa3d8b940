// A `tracer run` for the tests that read its local API (`tracer top`,
// `tracer status`): its own config and API socket in a private directory,
// no /metrics, no DogStatsD, every API event kind.
#pragma once

#include "fixtures.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace tracer::fixtures {

class ApiAgent {
public:
    // `binary`: the tracer executable; `more_config`: extra YAML lines.
    // Waits (bounded) until /v1/status answers and one snapshot is published;
    // throws std::runtime_error with tracer's output when it does not.
    ApiAgent(const std::string& binary, const std::string& more_config = "", double interval = 1);
    ~ApiAgent();  // SIGTERM, wait, remove the directory
    ApiAgent(const ApiAgent&) = delete;
    ApiAgent& operator=(const ApiAgent&) = delete;

    const std::string& socket() const { return socket_; }
    const std::string& dir() const { return dir_; }
    Subprocess& process() { return *process_; }
    // GET `path` on the API (throws like api::LocalApiClient::get).
    nlohmann::json get(const std::string& path) const;

private:
    std::string dir_, socket_;
    std::unique_ptr<Subprocess> process_;
};

// A private empty directory under /tmp, removed with everything in it.
std::string make_temp_dir(const std::string& prefix);

}  // namespace tracer::fixtures
