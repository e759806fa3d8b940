// The embedded DogStatsD server: UDP readers (SO_REUSEPORT, recvmmsg batches),
// a Unix datagram socket (SO_PASSCRED: the sender's pid gives its origin tags)
// and an optional newline-framed TCP listener. Every listener thread parses
// into an aggregator of its own without locks; flush() collects them all
// (a short handshake with each thread), merges, and returns the interval's
// output (statsd_store.h) plus the server's own metrics. Events and service
// checks of the interval go to `on_events`, from the thread calling flush().
#pragma once

#include "metrics/events.h"
#include "metrics/series.h"
#include "statsd/statsd_store.h"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tracer::statsd {

struct StatsdServerOptions {
    std::string udp_listen = "127.0.0.1:8125";           // HOST:PORT; port 0 = any; "" = no UDP
    std::string socket_path = "/run/tracer/dsd.socket";  // "" = no Unix socket
    std::string tcp_listen;                              // HOST:PORT; "" = no TCP
    uint32_t udp_readers = 2;                            // SO_REUSEPORT sockets, one thread each
    bool origin_from_socket = true;  // Unix socket: sender pid -> pid_labels
    bool origin_from_field = true;   // the c:<container-id> field -> container_labels
    std::vector<double> percentiles = {0.5, 0.95, 0.99};
    size_t max_contexts = 100000;
    uint32_t receive_buffer_bytes = 8u << 20;  // SO_RCVBUF(FORCE) per socket
    size_t max_events_per_interval = 10000;   // more are dropped and counted
    // Origin tags of a pid (default: its `cgroup`, unified hierarchy) and of
    // a container id from the c: field (default: container_id=<id>).
    std::function<metrics::Labels(pid_t)> pid_labels;
    std::function<metrics::Labels(std::string_view)> container_labels;
    std::function<void(std::vector<metrics::Event>&&, std::vector<metrics::ServiceCheck>&&)> on_events;
};

class StatsdServer {
public:
    explicit StatsdServer(StatsdServerOptions options);
    ~StatsdServer();  // stop()s
    StatsdServer(const StatsdServer&) = delete;
    StatsdServer& operator=(const StatsdServer&) = delete;

    // Opens every configured listener and starts its threads. A listener that
    // cannot open (address in use, no permission, bad address) is logged as
    // one error and left out; the others run. Returns the number running.
    size_t start();
    // Idempotent; joins every thread, closes the sockets, removes the Unix socket file.
    void stop();

    // The interval since the last flush (or start): aggregated values, the
    // cumulative model and self-metrics. Calls on_events when there were any.
    StatsdFlush flush();

    uint16_t udp_port() const;  // 0 when UDP is not listening
    uint16_t tcp_port() const;
    bool socket_listening() const;
    // Metric values aggregated since start(), updated by the readers after
    // every batch (lags by at most one batch): lets a caller wait for what it sent.
    uint64_t received() const;
    // One line per listener that could not open.
    const std::vector<std::string>& errors() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tracer::statsd
