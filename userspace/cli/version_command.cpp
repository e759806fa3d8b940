#include "cli/commands.h"
#include "tracer_version.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace tracer::cli {

CLI::App* add_version_command(CLI::App& app, VersionFlags&) {
    return app.add_subcommand("version", "Print tracer's version");
}

int version_command(const VersionFlags&) {
    std::printf("tracer %s\n", TRACER_VERSION);
    return 0;
}

}  // namespace tracer::cli
