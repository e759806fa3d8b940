// Prometheus remote write 1.0, encoded by hand: the WriteRequest message is
// small and fixed, and writing it directly (sizes computed first, no
// intermediate message objects) is several times faster than building
// protobuf objects and serializing them (docs/performance.md, "Forwarder").
//
//   message WriteRequest { repeated TimeSeries timeseries = 1; }
//   message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//   message Label        { string name = 1; string value = 2; }
//   message Sample       { double value = 1; int64 timestamp = 2; }
#include "forwarder/sink_encoders.h"

#include "metrics/prometheus_text.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <string_view>

namespace tracer::forwarder {
namespace {

using metrics::MetricType;

size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, ++n;
    return n;
}

void put_varint(std::string& out, uint64_t v) {
    char buf[10];
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out.append(buf, n);
}

void put_string_field(std::string& out, char tag, std::string_view s) {
    out += tag;
    put_varint(out, s.size());
    out.append(s);
}

size_t string_field_size(std::string_view s) { return 1 + varint_size(s.size()) + s.size(); }

bool valid_label_name(std::string_view s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

struct LabelRef {
    std::string_view name, value;
};

class RemoteWriteEncoder final : public SeriesEncoder {
public:
    RemoteWriteEncoder() : SeriesEncoder("application/x-protobuf", "snappy", "") {}

    void encode(const Batch& batch, const PayloadLimits& limits, std::vector<Payload>& out) override {
        batch_ = &batch;
        begin(limits, out);
        global_.clear();
        global_names_.clear();
        global_names_.reserve(batch.tags.size() + 1);
        if (!batch.host.empty()) global_names_.push_back("host"), global_.push_back({"", batch.host});
        for (const auto& t : batch.tags) {
            global_names_.push_back(metrics::prometheus_label_name(t.name));
            global_.push_back({"", t.value});
        }
        for (size_t i = 0; i < global_.size(); ++i) global_[i].name = global_names_[i];

        std::string number;
        for (const auto& bf : batch.families) {
            const metrics::Family& f = *bf.family;
            name_ = metrics::prometheus_name(f);
            for (const auto& s : f.samples) {
                set_sample_labels(s.labels);
                if (f.type == MetricType::Histogram) {
                    const auto& h = s.histogram;
                    std::string bucket = name_ + "_bucket";
                    uint64_t cumulative = 0;
                    for (size_t i = 0; i < h.bounds.size(); ++i) {
                        if (std::isinf(h.bounds[i]) && h.bounds[i] > 0) break;
                        cumulative += i < h.counts.size() ? h.counts[i] : 0;
                        number.clear();
                        metrics::append_prometheus_number(number, h.bounds[i]);
                        add_series(bucket, {"le", number}, static_cast<double>(cumulative));
                    }
                    add_series(bucket, {"le", "+Inf"}, static_cast<double>(h.count));
                    add_series(name_ + "_sum", {}, h.sum);
                    add_series(name_ + "_count", {}, static_cast<double>(h.count));
                } else if (f.type == MetricType::Summary) {
                    for (const auto& [q, v] : s.summary.quantiles) {
                        number.clear();
                        metrics::append_prometheus_number(number, q);
                        add_series(name_, {"quantile", number}, v);
                    }
                    add_series(name_ + "_sum", {}, s.summary.sum);
                    add_series(name_ + "_count", {}, static_cast<double>(s.summary.count));
                } else {
                    add_series(name_, {}, s.value);
                }
            }
        }
        end();
    }

private:
    // The sample's labels with /metrics' names; global tags it does not have itself.
    void set_sample_labels(const metrics::Labels& labels) {
        base_.clear();
        size_t scratch = 0;
        for (const auto& l : labels) {
            if (valid_label_name(l.name)) {
                base_.push_back({l.name, l.value});
            } else {
                if (scratch == scratch_.size()) scratch_.emplace_back();
                scratch_[scratch] = metrics::prometheus_label_name(l.name);
                base_.push_back({scratch_[scratch++], l.value});
            }
        }
        const size_t own = base_.size();
        for (const auto& g : global_) {
            bool taken = false;
            for (size_t i = 0; i < own && !taken; ++i) taken = base_[i].name == g.name;
            if (!taken) base_.push_back(g);
        }
    }

    void add_series(std::string_view name, LabelRef extra, double value) {
        labels_.assign(base_.begin(), base_.end());
        labels_.push_back({"__name__", name});
        if (!extra.name.empty()) labels_.push_back(extra);
        std::sort(labels_.begin(), labels_.end(), [](const LabelRef& a, const LabelRef& b) { return a.name < b.name; });

        const uint64_t ts = static_cast<uint64_t>(batch_->timestamp_ms);
        const size_t sample_size = 9 + 1 + varint_size(ts);
        size_t series_size = 1 + varint_size(sample_size) + sample_size;
        for (const auto& l : labels_) {
            size_t ls = string_field_size(l.name) + string_field_size(l.value);
            series_size += 1 + varint_size(ls) + ls;
        }
        body_ += '\x0a';  // WriteRequest.timeseries
        put_varint(body_, series_size);
        for (const auto& l : labels_) {
            body_ += '\x0a';  // TimeSeries.labels
            put_varint(body_, string_field_size(l.name) + string_field_size(l.value));
            put_string_field(body_, '\x0a', l.name);
            put_string_field(body_, '\x12', l.value);
        }
        body_ += '\x12';  // TimeSeries.samples
        put_varint(body_, sample_size);
        body_ += '\x09';  // Sample.value, fixed64
        char bits[8];
        std::memcpy(bits, &value, 8);  // little-endian hosts (x86_64, arm64)
        body_.append(bits, 8);
        body_ += '\x10';  // Sample.timestamp, varint
        put_varint(body_, ts);
        series_added();
    }

    const Batch* batch_ = nullptr;
    std::string name_;
    std::vector<std::string> global_names_;
    std::deque<std::string> scratch_;  // sanitized label names; a deque keeps the views into it valid
    std::vector<LabelRef> global_, base_, labels_;
};

}  // namespace

std::unique_ptr<SinkEncoder> make_remote_write_encoder() { return std::make_unique<RemoteWriteEncoder>(); }

}  // namespace tracer::forwarder
