// Short human forms of the numbers `tracer top` shows, for narrow columns.
#pragma once

#include <optional>
#include <string>

namespace tracer::top {

std::string human_count(double v);                  // 812, 41.2k, 3.1M; "-" for NaN
std::string human_bytes(double v);                  // 512B, 1.5K, 20.0M, 3.2G
std::string human_bytes(const std::optional<double>& v);  // "-" when unknown
std::string human_seconds(double s);                // 850ns, 12us, 3.4ms, 1.20s; "-" for NaN
std::string percent(double v);                      // 12.3

}  // namespace tracer::top
