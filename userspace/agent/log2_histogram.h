// The kernel keeps latencies as log2 nanosecond slots (slot i counts values in
// [2^i, 2^(i+1)) ns). On the wire they become a seconds histogram with every
// other power of two as a bound, 2^10 ns (~1 us) .. 2^34 ns (~17 s): x4 steps,
// 13 bounds plus +Inf, enough resolution for latency SLOs at a third of the lines.
#pragma once

#include "metrics/series.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace tracer::agent {

metrics::Histogram seconds_histogram_from_log2_ns(std::span<const uint64_t> slots, uint64_t total_ns);

// One interval's growth of log2 slots and latency sum, measured on a sample of
// the calls, scaled to stand for `calls` calls.
struct ScaledLog2 {
    std::vector<uint64_t> slots;  // sums to exactly `calls`
    uint64_t total_ns = 0;
};

// Each slot keeps its share of `timed` (largest remainders take the rounding,
// ties to the lower slot), the sum grows by the same factor. nullopt when
// `timed` is all zero: nothing to scale.
std::optional<ScaledLog2> scale_log2_slots(std::span<const uint64_t> timed, uint64_t timed_total_ns, uint64_t calls);

}  // namespace tracer::agent
