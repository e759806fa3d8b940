#include "agent/agent.h"
#include "cli/commands.h"
#include "config/agent_config.h"
#include "log.h"
#include "probes/kernel_features.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

namespace tracer::cli {

CLI::App* add_run_command(CLI::App& app, RunFlags& f) {
    auto* run = app.add_subcommand("run", "Run the agent: load the probes and serve /metrics until SIGINT/SIGTERM");
    auto* config = run->add_option("-c,--config", f.config_path,
                                   "Agent config (YAML); without the file the built-in defaults serve")
                       ->capture_default_str();
    run->callback([&f, config] { f.config_given = config->count() > 0; });
    run->add_option("-i,--interval", f.interval, "Seconds between collections [default: 10]");
    run->add_option("--metrics-addr", f.metrics_addr,
                    "HOST:PORT to serve Prometheus /metrics on, \"\" to disable [default: 127.0.0.1:9464]");
    run->add_option("--log-level", f.log_level, "error, warn, info or debug [default: info]");
    run->add_option("--host-root", f.host_root,
                    "Where the host's / is mounted (/proc, /sys, /run, the Docker socket), e.g. /host [default: /]");
    run->add_option("--confd", f.confd,
                    "Directory of integration plugin configs (<plugin>.yaml) [default: /etc/tracer/conf.d]");
    run->add_option("--btf", f.btf_path,
                    "BTF file describing the running kernel, for kernels without /sys/kernel/btf/vmlinux");
    return run;
}

int run_command(const RunFlags& f) {
    agent::RunOptions options;
    try {
        options.config = config::load_agent_config(f.config_path, f.config_given);
        if (f.interval) options.config.interval = *f.interval;
        if (f.metrics_addr) options.config.metrics_addr = *f.metrics_addr;
        if (f.log_level) options.config.log_level = *f.log_level;
        if (f.confd) options.config.confd = *f.confd;
        if (f.host_root) {
            if (!f.host_root->empty() && f.host_root->front() != '/')
                throw config::ConfigError("--host-root must be an absolute path, got '" + *f.host_root + "'");
            options.config.host_root = *f.host_root;
        }
        config::validate(options.config);
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "tracer: config error: %s\n", e.what());
        return 2;
    }
    log::Level level;
    if (log::parse_level(options.config.log_level, level)) log::set_level(level);
    options.btf_path = f.btf_path;
    LOG_INFO("tracer starting: config %s, interval %gs",
             options.config.config_path.empty() ? "(built-in defaults)" : options.config.config_path.c_str(),
             options.config.interval);
    // Without usable BTF the agent stops with one error naming the fix; the
    // feature list would only repeat it.
    if (auto features = probes::probe_kernel_features(f.btf_path); !features.btf_file.empty())
        for (const auto& line : probes::describe_features(features)) LOG_INFO("kernel feature: %s", line.c_str());
    try {
        return agent::run_agent(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer: error: %s\n", e.what());
        return 1;
    }
}

}  // namespace tracer::cli
