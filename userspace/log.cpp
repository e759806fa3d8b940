#include "log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace tracer::log {
namespace {
std::atomic<Level> g_level{Level::Info};
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
}  // namespace

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
    for (int i = 0; i < 4; ++i) {
        if (text == kNames[i]) {
            out = static_cast<Level>(i);
            return true;
        }
    }
    return false;
}

void write(Level l, const char* fmt, ...) {
    char line[4096];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    int n = static_cast<int>(std::strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm));
    n += std::snprintf(line + n, sizeof line - n, "%-5s ", kNames[static_cast<int>(l)]);
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    size_t len = m < 0 ? n : std::min<size_t>(n + m, sizeof line - 2);
    line[len++] = '\n';
    std::fwrite(line, 1, len, stderr);  // one write: lines from threads don't interleave
}

}  // namespace tracer::log
