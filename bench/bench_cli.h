// The start-up every benchmark in bench/ shares: CLI11 options common to the
// BPF benches, pinning the measuring thread, and main()'s frame (stop
// handlers, line-buffered output, interrupts and fatal errors turned into
// exit statuses).
#pragma once

#include <sched.h>

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

namespace bench {

// `--tracer PATH`: the agent binary a bench runs (default: the one built next to it).
void add_tracer_option(CLI::App& app, std::string& tracer);
// `--baseline-tracer PATH`: another build measured next to --tracer (empty: none).
void add_baseline_tracer_option(CLI::App& app, std::string& tracer);
// `--attach-timeout S`: how long an agent or tool may take until it is attached.
void add_attach_timeout_option(CLI::App& app, int& seconds);

// The measuring thread pinned to one CPU; the agents go to the others.
struct Pinning {
    int cpu = -1;
    std::optional<cpu_set_t> others;  // nullopt: only one CPU is available
};
// Pins the calling thread to `cpu` (-1: the last CPU this process may use).
// FatalError when that CPU is not available or pinning fails.
Pinning pin_measuring_thread(int cpu);
// A set with CPU `cpu` only.
cpu_set_t cpu_set_of(int cpu);

// Parses argv with `app` (--help, errors: CLI11's messages and exit codes),
// then runs `body` with stdout line-buffered and Ctrl+C/SIGTERM unwinding
// every child and BPF program. Interrupted -> 130; FatalError or any other
// exception -> a message naming `app`'s name and 1.
int bench_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace bench
