// The interactive `tracer top` (ncurses): the container list, the drill-down
// of one row, help, filter input. Keys: docs in the README and on `?`.
#pragma once

#include "top/top_session.h"

#include <functional>

namespace tracer::top {

struct ScreenOptions {
    double refresh_seconds = 2;
    bool all_cgroups = false;  // start with one row per cgroup (`a` toggles)
    // Polled between keys: true ends the session (the standalone agent stopped).
    std::function<bool()> should_stop;
};

// Runs until `q` (returns 0) or should_stop(); the terminal is restored on
// every way out, exceptions included.
int run_screen(TopSession& session, const ScreenOptions& options);

}  // namespace tracer::top
