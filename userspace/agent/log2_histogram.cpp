#include "agent/log2_histogram.h"

#include <cmath>
#include <vector>

namespace tracer::agent {
namespace {

constexpr int kFirstBoundLog2 = 10;
constexpr int kLastBoundLog2 = 34;

const std::vector<double>& bucket_bounds() {
    static const std::vector<double> bounds = [] {
        std::vector<double> b;
        for (int k = kFirstBoundLog2; k <= kLastBoundLog2; k += 2) b.push_back(std::ldexp(1.0, k) / 1e9);
        return b;
    }();
    return bounds;
}

// A slot [2^i, 2^(i+1)) lands in the first bucket whose bound is >= 2^(i+1).
size_t bucket_of_slot(size_t slot) {
    int upper = static_cast<int>(slot) + 1;
    if (upper <= kFirstBoundLog2) return 0;
    if (upper > kLastBoundLog2) return bucket_bounds().size();  // +Inf
    return static_cast<size_t>((upper - kFirstBoundLog2 + 1) / 2);
}

}  // namespace

metrics::Histogram seconds_histogram_from_log2_ns(std::span<const uint64_t> slots, uint64_t total_ns) {
    metrics::Histogram h;
    h.bounds = bucket_bounds();
    h.counts.assign(h.bounds.size() + 1, 0);
    for (size_t i = 0; i < slots.size(); ++i) h.counts[bucket_of_slot(i)] += slots[i];
    for (uint64_t c : h.counts) h.count += c;
    h.sum = static_cast<double>(total_ns) / 1e9;
    return h;
}

}  // namespace tracer::agent
