// What a sink sends in one HTTP request, and what its spool keeps on disk:
// an encoded, compressed body with the headers that describe it.
#pragma once

#include "forwarder/batch.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tracer::forwarder {

struct Payload {
    std::string body;              // compressed
    std::string content_type;      // "application/x-protobuf", "application/json", "text/plain"
    std::string content_encoding;  // "snappy" | "gzip"
    std::string path;              // appended to the sink's URL ("" = the URL as configured)
    uint64_t samples = 0;          // series points it carries (for self-metrics)
};

// Bounds on one request: a batch bigger than either is split into several.
struct PayloadLimits {
    size_t max_series = 10000;
    size_t max_bytes = 8u << 20;  // uncompressed
};

// Renders a Batch in one wire convention. Encoders are used by one sender
// thread at a time; they keep only reusable buffers, no state between batches.
class SinkEncoder {
public:
    virtual ~SinkEncoder() = default;
    // Appends one or more payloads (none for an empty batch).
    virtual void encode(const Batch& batch, const PayloadLimits& limits, std::vector<Payload>& out) = 0;
};

// The part every series encoder shares: one body being filled, cut into a
// new payload whenever it reaches the limits.
class SeriesEncoder : public SinkEncoder {
protected:
    SeriesEncoder(std::string content_type, std::string content_encoding, std::string path)
        : content_type_(std::move(content_type)), content_encoding_(std::move(content_encoding)),
          path_(std::move(path)) {}
    void begin(const PayloadLimits& limits, std::vector<Payload>& out);
    // After each series appended to body_: cuts a payload at a limit.
    void series_added();
    // Seals, compresses and appends the current body (if it has series).
    void finish();
    // At the end of a batch: finish() and free the body buffer (up to
    // max_bytes) rather than hold it until the next interval.
    void end();
    // Completes body_ before compression (closing brackets); default: nothing.
    virtual void seal() {}

    std::string body_;
    size_t series_ = 0;
    PayloadLimits limits_;
    std::vector<Payload>* out_ = nullptr;

private:
    std::string content_type_, content_encoding_, path_;
};

// Compressed forms of `data`: gzip (RFC 1952) and snappy's block format (what
// remote write uses, not the framed one). Throw std::runtime_error on failure.
std::string gzip_compress(std::string_view data);
std::string snappy_compress(std::string_view data);

}  // namespace tracer::forwarder
