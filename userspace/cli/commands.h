// The subcommands of the `tracer` binary: each adds itself to the CLI11 app and
// runs from its parsed flags. One file per subcommand.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tracer::cli {

struct RunFlags {
    std::string config_path = "/etc/tracer/tracer.yaml";
    bool config_given = false;  // set when --config was on the command line
    std::optional<double> interval;
    std::optional<std::string> metrics_addr;
    std::optional<std::string> log_level;
    std::optional<std::string> host_root;     // --host-root
    std::string btf_path;
    std::optional<std::string> confd;         // --confd (integration plugins)
};
CLI::App* add_run_command(CLI::App& app, RunFlags& flags);
int run_command(const RunFlags& flags);

struct TraceFlags {
    std::vector<std::string> events;  // empty: all
    std::string cgroup;               // path prefix ("" = all)
    std::string container;            // container name or id prefix ("" = all)
    std::string docker_socket = "/var/run/docker.sock";
    std::string format = "text";
    std::string hierarchy = "auto";
    std::string host_root;            // "" = /
    std::string btf_path;
};
CLI::App* add_trace_command(CLI::App& app, TraceFlags& flags);
int trace_command(const TraceFlags& flags);

struct VersionFlags {
    bool features = false;  // also probe the kernel and print the path taken per feature
    std::string btf_path;
};
CLI::App* add_version_command(CLI::App& app, VersionFlags& flags);
int version_command(const VersionFlags& flags);

// `tracer check NAME`: runs one plugin's conf.d instances once and prints what they report.
struct CheckFlags {
    std::string plugin;
    std::string confd = "/etc/tracer/conf.d";
    std::string format = "table";
    std::string host_root;
    std::string config_path = "/etc/tracer/tracer.yaml";  // the agent config: Docker socket, container tags
    bool config_given = false;                            // set when --config was on the command line
    bool check_rate = false;  // run twice, 1 s apart, so rates have a value
};
CLI::App* add_check_command(CLI::App& app, CheckFlags& flags);
int check_command(const CheckFlags& flags);

struct TopFlags {
    double delay = 2;
    std::string socket = "/run/tracer/api.sock";
    bool batch = false;
    unsigned iterations = 1;
    std::string format = "text";
    bool all_cgroups = false;
    std::string btf_path;
};
CLI::App* add_top_command(CLI::App& app, TopFlags& flags);
int top_command(const TopFlags& flags);

struct StatusFlags {
    std::string socket = "/run/tracer/api.sock";
    std::string format = "text";
};
CLI::App* add_status_command(CLI::App& app, StatusFlags& flags);
int status_command(const StatusFlags& flags);

}  // namespace tracer::cli
