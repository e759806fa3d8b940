// The kernel keeps latencies as log2 nanosecond slots (slot i counts values in
// [2^i, 2^(i+1)) ns). On the wire they become a seconds histogram with every
// other power of two as a bound, 2^10 ns (~1 us) .. 2^34 ns (~17 s): x4 steps,
// 13 bounds plus +Inf, enough resolution for latency SLOs at a third of the lines.
#pragma once

#include "metrics/series.h"

#include <cstdint>
#include <span>

namespace tracer::agent {

metrics::Histogram seconds_histogram_from_log2_ns(std::span<const uint64_t> slots, uint64_t total_ns);

}  // namespace tracer::agent
