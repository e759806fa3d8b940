// One configured destination: a bounded in-memory queue of batches, a sender
// thread that encodes them and POSTs them in order, retries with exponential
// backoff and jitter (Retry-After honoured), and a DiskSpool that holds every
// payload not yet delivered while the backend is down. offer() never blocks
// the flush loop; stop() spills what is still in memory to the spool, and the
// next start delivers the spool first, oldest first.
#pragma once

#include "forwarder/batch.h"
#include "forwarder/disk_spool.h"
#include "forwarder/http_transport.h"
#include "forwarder/payload.h"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace tracer::forwarder {

// Why a payload (or, for queue_full, a batch) was given up; the `reason` label
// of tracer_forwarder_dropped_batches_total.
enum class DropReason { QueueFull, SpoolFull, Rejected, SpoolError, EncodeError, Corrupt, Count };
const char* drop_reason_name(DropReason r);

struct SinkOptions {
    std::string name;                 // the `sink` label
    HttpTransportOptions http;
    PayloadLimits limits;
    size_t queue_batches = 16;        // batches waiting for the sender
    std::string spool_dir;            // "" = no disk: undelivered payloads wait in memory
    uint64_t spool_max_bytes = 256ull << 20;  // on disk, or in memory without spool_dir
    double backoff_initial = 0.5, backoff_max = 30;  // seconds
    double log_every = 10;            // seconds between two log lines about rejections
};

struct SinkStats {
    std::atomic<uint64_t> sent_batches{0}, sent_samples{0}, failed_requests{0}, retried_requests{0};
    std::array<std::atomic<uint64_t>, static_cast<size_t>(DropReason::Count)> dropped{};
    // In memory (batches not yet encoded + encoded payloads not yet delivered), on disk.
    std::atomic<uint64_t> queued_batches{0}, spooled_batches{0}, spooled_bytes{0};
};

class Sink {
public:
    Sink(SinkOptions options, std::unique_ptr<SinkEncoder> encoder);
    ~Sink();  // stop()s
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;

    void start();
    // Queues `batch`; when the queue is full the oldest queued batch is dropped
    // (counted as queue_full). Never blocks on the network or the disk.
    void offer(std::shared_ptr<const Batch> batch);
    // Stops the sender (aborting a request in flight) and writes every payload
    // still in memory to the spool. Idempotent.
    void stop();

    const std::string& name() const { return opt_.name; }
    const SinkStats& stats() const { return stats_; }

    // For `tracer status` (any thread): whether the last delivery attempt
    // failed and will be retried, and the last error this sink met (delivery,
    // rejection, encoding or spool), "" when none yet.
    struct Health {
        bool failing = false;
        std::string last_error;
        double last_error_age_seconds = 0;
    };
    Health health() const;

private:
    using Clock = std::chrono::steady_clock;
    void run();
    void encode(const Batch& batch);
    void keep(Payload&& p);                // after the ones waiting: spool or memory
    void spool_push(const Payload& p);
    void spill_memory();                   // pending_ -> spool, in order
    void deliver_one();
    void count_drop(DropReason r, uint64_t n = 1);
    void update_gauges();
    void note_error(std::string what);

    SinkOptions opt_;
    std::unique_ptr<SinkEncoder> encoder_;
    HttpTransport transport_;
    SinkStats stats_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<const Batch>> queue_;  // guarded by mu_
    bool stopping_ = false;                           // guarded by mu_
    std::atomic<bool> abort_{false};
    std::atomic<bool> failing_now_{false};            // failing_, readable from any thread
    mutable std::mutex error_mu_;
    std::string last_error_;                          // guarded by error_mu_
    Clock::time_point last_error_at_{};               // guarded by error_mu_
    std::thread sender_;
    bool stopped_ = false;

    // The sender's own (and stop()'s, after the join):
    std::optional<DiskSpool> spool_;
    std::deque<Payload> pending_;  // encoded, not yet delivered; empty while the spool is not
    uint64_t pending_bytes_ = 0;
    std::vector<Payload> encoded_;
    bool failing_ = false;         // the last attempt failed and will be retried
    double backoff_ = 0;
    Clock::time_point next_attempt_{};
    Clock::time_point last_reject_log_{};
    uint64_t rejects_unlogged_ = 0;
    Clock::time_point last_spool_error_log_{};
};

}  // namespace tracer::forwarder
