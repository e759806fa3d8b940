#include "agent/log2_histogram.h"

#include <algorithm>
#include <cmath>
#include <numeric>
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

std::optional<ScaledLog2> scale_log2_slots(std::span<const uint64_t> timed, uint64_t timed_total_ns, uint64_t calls) {
    using Wide = unsigned __int128;  // slot x calls overflows 64 bits on long-lived busy series
    Wide total = 0;
    for (uint64_t t : timed) total += t;
    if (total == 0) return std::nullopt;
    ScaledLog2 out;
    out.slots.resize(timed.size());
    std::vector<uint64_t> remainder(timed.size());
    uint64_t given = 0;
    for (size_t i = 0; i < timed.size(); ++i) {
        Wide share = Wide(timed[i]) * calls;
        out.slots[i] = uint64_t(share / total);
        remainder[i] = uint64_t(share % total);
        given += out.slots[i];
    }
    // calls - given < number of non-zero slots: one more for each of the largest remainders
    std::vector<size_t> order(timed.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
    for (size_t k = 0; given < calls && k < order.size(); ++k, ++given) out.slots[order[k]] += 1;
    const Wide sum = (Wide(timed_total_ns) * calls + total / 2) / total;
    out.total_ns = sum > UINT64_MAX ? UINT64_MAX : uint64_t(sum);
    return out;
}

}  // namespace tracer::agent
