// tracer: per-container kernel visibility. One subcommand per file in cli/.
#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    CLI::App app{"tracer: per-container kernel metrics from eBPF (syscalls, scheduling, network, processes)",
                 "tracer"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show help for every subcommand");

    tracer::cli::RunFlags run_flags;
    tracer::cli::TraceFlags trace_flags;
    tracer::cli::VersionFlags version_flags;
    tracer::cli::CheckFlags check_flags;
    auto* run = tracer::cli::add_run_command(app, run_flags);
    auto* trace = tracer::cli::add_trace_command(app, trace_flags);
    auto* version = tracer::cli::add_version_command(app, version_flags);
    auto* check = tracer::cli::add_check_command(app, check_flags);
    tracer::cli::TopFlags top_flags;
    tracer::cli::StatusFlags status_flags;
    auto* top = tracer::cli::add_top_command(app, top_flags);
    auto* status = tracer::cli::add_status_command(app, status_flags);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (run->parsed()) return tracer::cli::run_command(run_flags);
    if (trace->parsed()) return tracer::cli::trace_command(trace_flags);
    if (version->parsed()) return tracer::cli::version_command(version_flags);
    if (check->parsed()) return tracer::cli::check_command(check_flags);
    if (top->parsed()) return tracer::cli::top_command(top_flags);
    if (status->parsed()) return tracer::cli::status_command(status_flags);
    return 2;
}
