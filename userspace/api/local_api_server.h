// The local API (docs/api.md): read-only JSON over HTTP/1.0 on a Unix socket
// (mode 0600), versioned paths:
//   GET /v1/snapshot   the latest published snapshot
//   GET /v1/events     recent events (?since=SEQ&limit=N)
//   GET /v1/status     version, uptime, kernel, probes, per-source health, drops
// One thread serves every client with non-blocking sockets and poll(): a
// client that stops reading or never finishes its request holds only its own
// connection until its timeout, never another client and never the flush
// loop, which only calls published() (a counter and a timestamp).
#pragma once

#include "api/recent_events.h"
#include "metrics/series.h"
#include "metrics/source.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tracer::api {

struct LocalApiOptions {
    std::string socket_path;                       // created with mode 0600 (its directory if missing)
    const metrics::LatestSnapshot* snapshot = nullptr;  // must outlive the server
    const RecentEvents* events = nullptr;               // null: /v1/events is always empty
    // Per-source health for /v1/status (any thread; called per request).
    std::function<std::vector<metrics::SourceStatus>()> sources;
    // Facts fixed at start for /v1/status: kernel features, probe builds,
    // cgroup hierarchy... merged into the status object as they are.
    std::function<nlohmann::json()> agent_info;
    double interval_seconds = 0;                   // the agent's flush interval, reported as is
    size_t max_connections = 16;                   // more are answered 503 and closed
    std::chrono::milliseconds client_timeout{5000};  // to send the request and read the answer
};

class LocalApiServer {
public:
    explicit LocalApiServer(LocalApiOptions options);
    ~LocalApiServer();  // stop()s and removes the socket file
    LocalApiServer(const LocalApiServer&) = delete;
    LocalApiServer& operator=(const LocalApiServer&) = delete;

    // Binds and serves from a thread of its own. Throws std::runtime_error
    // naming the socket when it cannot (another agent answers there,
    // permission, path too long). Once only.
    void start();
    // Idempotent; returns once the serving thread has exited.
    void stop();

    // The flush loop published a new snapshot: numbers and stamps it.
    void published();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The path of the local API in requests and answers is versioned; this is
// the version this build serves.
constexpr int kLocalApiVersion = 1;

}  // namespace tracer::api
