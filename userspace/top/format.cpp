#include "top/format.h"

#include <cmath>
#include <cstdio>

namespace tracer::top {

namespace {
std::string printf_string(const char* fmt, double v, const char* suffix) {
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, v, suffix);
    return buf;
}
}  // namespace

std::string human_count(double v) {
    if (std::isnan(v)) return "-";
    if (v >= 1e9) return printf_string("%.1f%s", v / 1e9, "G");
    if (v >= 1e6) return printf_string("%.1f%s", v / 1e6, "M");
    if (v >= 1e4) return printf_string("%.1f%s", v / 1e3, "k");
    if (v >= 100 || v == std::floor(v)) return printf_string("%.0f%s", v, "");
    return printf_string("%.1f%s", v, "");
}

std::string human_bytes(double v) {
    if (std::isnan(v)) return "-";
    // From 1000 of a unit on, the next one: at most 6 characters up to 999.9T.
    if (v >= 1000.0 * 1024 * 1024 * 1024) return printf_string("%.1f%s", v / (1024.0 * 1024 * 1024 * 1024), "T");
    if (v >= 1000.0 * 1024 * 1024) return printf_string("%.1f%s", v / (1024.0 * 1024 * 1024), "G");
    if (v >= 1000.0 * 1024) return printf_string("%.1f%s", v / (1024.0 * 1024), "M");
    if (v >= 1000.0) return printf_string("%.1f%s", v / 1024.0, "K");
    return printf_string("%.0f%s", v, "B");
}

std::string human_bytes(const std::optional<double>& v) {
    return v ? human_bytes(*v) : "-";
}

std::string human_seconds(double s) {
    if (std::isnan(s)) return "-";
    if (s >= 1) return printf_string("%.2f%s", s, "s");
    if (s >= 1e-3) return printf_string("%.1f%s", s * 1e3, "ms");
    if (s >= 1e-6) return printf_string("%.0f%s", s * 1e6, "us");
    return printf_string("%.0f%s", s * 1e9, "ns");
}

std::string percent(double v) {
    return std::isnan(v) ? "-" : printf_string("%.1f%s", v, "");
}

}  // namespace tracer::top
