// Leveled logging to stderr: "2026-11-27T03:04:05Z info  message".
// One line per event; user-facing errors say what and how to fix it.
#pragma once

#include <string_view>

namespace tracer::log {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void set_level(Level level);
Level level();
// Parses "error" | "warn" | "info" | "debug"; false on anything else.
bool parse_level(std::string_view text, Level& out);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define TRACER_LOG(lvl, ...)                                                   \
    do {                                                                       \
        if (static_cast<int>(lvl) <= static_cast<int>(::tracer::log::level())) \
            ::tracer::log::write(lvl, __VA_ARGS__);                            \
    } while (0)
#define LOG_ERROR(...) TRACER_LOG(::tracer::log::Level::Error, __VA_ARGS__)
#define LOG_WARN(...) TRACER_LOG(::tracer::log::Level::Warn, __VA_ARGS__)
#define LOG_INFO(...) TRACER_LOG(::tracer::log::Level::Info, __VA_ARGS__)
#define LOG_DEBUG(...) TRACER_LOG(::tracer::log::Level::Debug, __VA_ARGS__)

}  // namespace tracer::log
