// The Docker Engine API over its unix socket (libcurl), and the metadata
// provider built on it: containers that existed before the agent started
// (list + inspect), then the /events stream (start, rename) on its own thread,
// reconnecting with backoff when dockerd goes away. podman's Docker-compatible
// API (`podman system service`) answers the same calls.
#pragma once

#include "containers/container_metadata.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace tracer::containers {

class DockerError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class DockerClient {
public:
    explicit DockerClient(std::string socket_path);
    ~DockerClient();
    DockerClient(const DockerClient&) = delete;
    DockerClient& operator=(const DockerClient&) = delete;

    // GET `path` ("/containers/json"); the body on 200, nullopt on 404.
    // Throws DockerError naming the socket when dockerd cannot be reached or
    // answers anything else.
    std::optional<std::string> get(const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // GET a streaming endpoint (/events) and hand every line to `on_line`
    // until the server closes it (throws DockerError) or `stop` is requested
    // (returns).
    void stream_lines(const std::string& path, const std::function<void(const std::string&)>& on_line,
                      std::stop_token stop);

    const std::string& socket_path() const { return socket_path_; }

private:
    struct Curl;
    std::string socket_path_;
    std::unique_ptr<Curl> curl_;
};

// Parses GET /containers/<id>/json. Throws DockerError on malformed input.
ContainerInfo parse_docker_inspect(const std::string& body);
// The container id of one /events line (Actor.ID, else id); "" if none or not JSON.
std::string container_id_of_event(const std::string& line);
// The ids in GET /containers/json; none if it is not a JSON array.
std::vector<std::string> container_ids_of_list(const std::string& body);

class DockerMetadataProvider {
public:
    DockerMetadataProvider(std::string socket_path, MetadataCache& cache);
    ~DockerMetadataProvider();  // stops and joins its threads

    // Number of times the event stream (re)connected; for tests and logs.
    uint64_t connections() const { return connections_.load(); }

    // One container by id (any thread; a MetadataLookups lookup): nullopt when
    // Docker does not know it or cannot be reached.
    std::optional<ContainerInfo> inspect(const std::string& id);

private:
    void watch(std::stop_token stop);  // list + inspect, then /events; reconnects
    void inspect_into_cache(DockerClient& client, const std::string& id);

    std::string socket_path_;
    MetadataCache& cache_;
    std::atomic<uint64_t> connections_{0};
    std::mutex inspect_mu_;
    DockerClient inspect_client_;
    std::jthread watcher_;
};

}  // namespace tracer::containers
