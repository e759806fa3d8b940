// The /metrics HTTP endpoint: serves the latest published snapshot in the
// Prometheus text format (gzip when asked), plus / (an index) and /healthz.
// One thread serves every client with non-blocking sockets (epoll): a client
// that sends its request slowly, never finishes it, sends megabytes of request
// line or stops reading the answer holds only its own connection, for a
// bounded time and a bounded buffer, never another scrape. Every scrape of one
// snapshot shares one rendered page.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "metrics/series.h"

namespace tracer::api {

class MetricsServer {
public:
    // `source` must outlive the server.
    MetricsServer(std::string host, uint16_t port, const metrics::LatestSnapshot& source);
    ~MetricsServer();  // stop()s
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Binds (port 0 = an ephemeral port) and serves from a thread of its own.
    // Throws std::runtime_error with a user-facing reason when it cannot bind.
    // Once only: a stopped server cannot be restarted.
    void start();
    // Idempotent; returns once the serving thread has exited.
    void stop();
    // The bound port after start(); the requested one before.
    uint16_t port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tracer::api
