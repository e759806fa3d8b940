#include "forwarder/payload.h"

#include <snappy.h>
#include <zlib.h>

#include <stdexcept>

namespace tracer::forwarder {

std::string gzip_compress(std::string_view data) {
    z_stream zs{};
    // 15 window bits + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("gzip: deflateInit2 failed");
    std::string out(deflateBound(&zs, data.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
    out.resize(n);
    return out;
}

void SeriesEncoder::begin(const PayloadLimits& limits, std::vector<Payload>& out) {
    limits_ = limits;
    out_ = &out;
    body_.clear();
    series_ = 0;
}

void SeriesEncoder::series_added() {
    if (++series_ >= limits_.max_series || body_.size() >= limits_.max_bytes) finish();
}

void SeriesEncoder::finish() {
    if (series_ == 0) return;
    seal();
    Payload p;
    p.body = content_encoding_ == "snappy" ? snappy_compress(body_) : gzip_compress(body_);
    p.content_type = content_type_;
    p.content_encoding = content_encoding_;
    p.path = path_;
    p.samples = series_;
    out_->push_back(std::move(p));
    body_.clear();
    series_ = 0;
}

void SeriesEncoder::end() {
    finish();
    std::string().swap(body_);
}

std::string snappy_compress(std::string_view data) {
    std::string out;
    snappy::Compress(data.data(), data.size(), &out);
    return out;
}

}  // namespace tracer::forwarder
