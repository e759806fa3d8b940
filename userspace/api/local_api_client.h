// A client of the local API (api/local_api_server.h), for `tracer top` and
// `tracer status`: one GET per connection, bounded by a timeout.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace tracer::api {

// Nothing listens at the socket (no file, or nobody accepts): no agent runs.
class NoAgentError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class LocalApiClient {
public:
    explicit LocalApiClient(std::string socket_path, std::chrono::milliseconds timeout = std::chrono::seconds(5))
        : path_(std::move(socket_path)), timeout_(timeout) {}

    // GET `target` ("/v1/status"); the parsed JSON body of a 200 answer.
    // Throws NoAgentError when nothing answers at the socket, and
    // std::runtime_error naming the socket and the path for anything else
    // (permission, timeout, a non-200 answer, bad JSON).
    nlohmann::json get(const std::string& target) const;

    const std::string& socket_path() const { return path_; }

private:
    std::string path_;
    std::chrono::milliseconds timeout_;
};

}  // namespace tracer::api
