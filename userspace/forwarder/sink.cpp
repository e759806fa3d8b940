#include "forwarder/sink.h"

#include "log.h"

#include <random>

namespace tracer::forwarder {

const char* drop_reason_name(DropReason r) {
    switch (r) {
        case DropReason::QueueFull: return "queue_full";
        case DropReason::SpoolFull: return "spool_full";
        case DropReason::Rejected: return "rejected";
        case DropReason::SpoolError: return "spool_error";
        case DropReason::EncodeError: return "encode_error";
        case DropReason::Corrupt: return "corrupt";
        case DropReason::Count: break;
    }
    return "unknown";
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Uniform in [d/2, d]: spreads the retries of many agents after an outage.
double jittered(double d) {
    thread_local std::mt19937 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(d / 2, d)(rng);
}

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.size() > 512) s = s.substr(0, 512) + "...";
    return s;
}

}  // namespace

Sink::Sink(SinkOptions options, std::unique_ptr<SinkEncoder> encoder)
    : opt_(std::move(options)), encoder_(std::move(encoder)), transport_(opt_.http) {
    backoff_ = opt_.backoff_initial;
    if (!opt_.spool_dir.empty()) {
        try {
            spool_.emplace(opt_.spool_dir, opt_.spool_max_bytes);
            if (!spool_->empty())
                LOG_INFO("sink %s: %zu undelivered batch(es) (%llu bytes) in %s from an earlier run: delivering them first",
                         opt_.name.c_str(), spool_->size(), static_cast<unsigned long long>(spool_->bytes()),
                         spool_->dir().c_str());
        } catch (const std::exception& e) {
            LOG_ERROR("sink %s: %s; undelivered batches will wait in memory only (lost on exit)", opt_.name.c_str(),
                      e.what());
        }
    }
    update_gauges();
}

Sink::~Sink() { stop(); }

void Sink::start() {
    sender_ = std::thread([this] { run(); });
}

void Sink::offer(std::shared_ptr<const Batch> batch) {
    bool dropped = false;
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        if (queue_.size() >= opt_.queue_batches) {
            queue_.pop_front();
            dropped = true;
        }
        queue_.push_back(std::move(batch));
        if (!dropped) ++stats_.queued_batches;
    }
    if (dropped) count_drop(DropReason::QueueFull);
    cv_.notify_one();
}

void Sink::stop() {
    if (stopped_) return;
    stopped_ = true;
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    abort_ = true;
    cv_.notify_one();
    if (sender_.joinable()) sender_.join();
    // Spill: the sender is gone, so everything below is ours.
    std::deque<std::shared_ptr<const Batch>> left;
    {
        std::lock_guard lock(mu_);
        left.swap(queue_);
    }
    for (const auto& b : left) encode(*b);
    const size_t before = spool_ ? spool_->size() : 0;
    if (spool_) spill_memory();
    if (spool_ && spool_->size() > before)
        LOG_INFO("sink %s: %zu undelivered batch(es) written to %s for the next start", opt_.name.c_str(),
                 spool_->size() - before, spool_->dir().c_str());
    if (!pending_.empty())
        LOG_WARN("sink %s: %zu undelivered batch(es) lost at exit (no spool directory)", opt_.name.c_str(),
                 pending_.size());
    update_gauges();
}

void Sink::count_drop(DropReason r, uint64_t n) {
    if (n) stats_.dropped[static_cast<size_t>(r)] += n;
}

void Sink::update_gauges() {
    {
        std::lock_guard lock(mu_);
        stats_.queued_batches = queue_.size() + pending_.size();
    }
    stats_.spooled_batches = spool_ ? spool_->size() : 0;
    stats_.spooled_bytes = spool_ ? spool_->bytes() : 0;
}

void Sink::encode(const Batch& batch) {
    encoded_.clear();
    try {
        encoder_->encode(batch, opt_.limits, encoded_);
    } catch (const std::exception& e) {
        count_drop(DropReason::EncodeError);
        note_error(std::string("cannot encode a batch: ") + e.what());
        LOG_ERROR("sink %s: cannot encode a batch: %s", opt_.name.c_str(), e.what());
        return;
    }
    for (auto& p : encoded_) keep(std::move(p));
}

void Sink::keep(Payload&& p) {
    // Once anything waits on disk (or delivery is failing), new payloads queue
    // up behind it on disk: delivery order is arrival order.
    if (spool_ && (failing_ || !spool_->empty())) {
        spool_push(p);
        return;
    }
    pending_bytes_ += p.body.size();
    pending_.push_back(std::move(p));
    while (pending_.size() > 1 && pending_bytes_ > opt_.spool_max_bytes) {
        pending_bytes_ -= pending_.front().body.size();
        pending_.pop_front();
        count_drop(DropReason::QueueFull);
    }
}

void Sink::spool_push(const Payload& p) {
    try {
        count_drop(DropReason::SpoolFull, spool_->push(p));
    } catch (const std::exception& e) {
        count_drop(DropReason::SpoolError);
        note_error(std::string("spool: ") + e.what());
        if (seconds_since(last_spool_error_log_) >= opt_.log_every) {
            last_spool_error_log_ = Clock::now();
            LOG_ERROR("sink %s: batch dropped: %s", opt_.name.c_str(), e.what());
        }
    }
}

void Sink::spill_memory() {
    for (const auto& p : pending_) spool_push(p);
    pending_.clear();
    pending_bytes_ = 0;
}

void Sink::run() {
    for (;;) {
        std::deque<std::shared_ptr<const Batch>> batches;
        {
            std::unique_lock lock(mu_);
            const bool work = !pending_.empty() || (spool_ && !spool_->empty());
            auto ready = [&] { return stopping_ || !queue_.empty(); };
            if (work)
                cv_.wait_until(lock, next_attempt_, ready);
            else
                cv_.wait(lock, ready);
            if (stopping_) return;
            batches.swap(queue_);
        }
        for (const auto& b : batches) encode(*b);
        update_gauges();
        if (Clock::now() >= next_attempt_) deliver_one();
        update_gauges();
    }
}

void Sink::deliver_one() {
    std::optional<Payload> from_spool;
    if (spool_ && !spool_->empty()) {
        from_spool = spool_->front();
        count_drop(DropReason::Corrupt, spool_->corrupt() - stats_.dropped[static_cast<size_t>(DropReason::Corrupt)]);
        if (!from_spool) return;
    } else if (pending_.empty()) {
        return;
    }
    const Payload& p = from_spool ? *from_spool : pending_.front();
    if (failing_) ++stats_.retried_requests;
    HttpResult r = transport_.post(p, abort_);
    if (r.status == 0 && abort_) return;  // aborted by stop(): the payload stays where it is and is spilled
    auto pop = [&] {
        if (from_spool) {
            spool_->pop_front();
        } else {
            pending_bytes_ -= pending_.front().body.size();
            pending_.pop_front();
        }
    };
    if (r.ok()) {
        if (failing_)
            LOG_INFO("sink %s: delivering again (%zu batch(es) waiting in the spool)", opt_.name.c_str(),
                     spool_ ? spool_->size() - (from_spool ? 1 : 0) : pending_.size() - 1);
        ++stats_.sent_batches;
        stats_.sent_samples += p.samples;
        pop();
        failing_ = false;
        failing_now_ = false;
        backoff_ = opt_.backoff_initial;
        next_attempt_ = Clock::now();
        return;
    }
    ++stats_.failed_requests;
    if (!r.retryable()) {
        // The backend understood and refused: retrying cannot help, and the
        // batches after this one must not wait behind it.
        count_drop(DropReason::Rejected);
        note_error("batch rejected with HTTP " + std::to_string(r.status) + ": " + one_line(r.body));
        ++rejects_unlogged_;
        if (seconds_since(last_reject_log_) >= opt_.log_every) {
            LOG_WARN("sink %s: %llu batch(es) rejected with HTTP %ld and dropped (not retried); the answer: %s",
                     opt_.name.c_str(), static_cast<unsigned long long>(rejects_unlogged_), r.status,
                     one_line(r.body).c_str());
            rejects_unlogged_ = 0;
            last_reject_log_ = Clock::now();
        }
        pop();
        failing_ = false;
        failing_now_ = false;  // reachable: it answered
        backoff_ = opt_.backoff_initial;
        next_attempt_ = Clock::now();
        return;
    }
    const double delay = r.retry_after >= 0 ? r.retry_after : jittered(backoff_);
    std::string why = r.status ? "HTTP " + std::to_string(r.status) + ": " + one_line(r.body) : r.error;
    note_error("delivery failed: " + why);
    failing_now_ = true;
    if (!failing_) {
        LOG_WARN("sink %s: delivery failed (%s); retrying every %g-%g s%s", opt_.name.c_str(), why.c_str(),
                 opt_.backoff_initial, opt_.backoff_max,
                 spool_ ? ", undelivered batches go to the spool" : ", undelivered batches wait in memory");
    }
    failing_ = true;
    if (spool_ && !from_spool) spill_memory();
    backoff_ = std::min(backoff_ * 2, opt_.backoff_max);
    next_attempt_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
}

void Sink::note_error(std::string what) {
    std::lock_guard lock(error_mu_);
    last_error_ = std::move(what);
    last_error_at_ = Clock::now();
}

Sink::Health Sink::health() const {
    Health h;
    h.failing = failing_now_;
    std::lock_guard lock(error_mu_);
    h.last_error = last_error_;
    if (!last_error_.empty()) h.last_error_age_seconds = seconds_since(last_error_at_);
    return h;
}

}  // namespace tracer::forwarder
