#include "cli/commands.h"
#include "probes/kernel_features.h"
#include "tracer_version.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace tracer::cli {

CLI::App* add_version_command(CLI::App& app, VersionFlags& f) {
    auto* version = app.add_subcommand("version", "Print tracer's version (and, with --features, what this kernel offers)");
    version->add_flag("--features", f.features,
                      "Probe this kernel's optional BPF features and print the path tracer takes for each");
    version->add_option("--btf", f.btf_path, "BTF file describing the running kernel (as for `tracer run --btf`)");
    return version;
}

int version_command(const VersionFlags& f) {
    std::printf("tracer %s\n", TRACER_VERSION);
    if (!f.features) return 0;
    auto features = probes::probe_kernel_features(f.btf_path);
    for (const auto& line : probes::describe_features(features)) std::printf("  %s\n", line.c_str());
    // Exit status says whether `tracer run` can load here.
    return features.version_ok && !features.btf_file.empty() && features.btf_types_read ? 0 : 1;
}

}  // namespace tracer::cli
