// `tracer check NAME`: loads <confd>/NAME.yaml (and NAME.d/*.yaml), runs every
// instance once (twice with --check-rate, so rates have a value) and prints
// the metrics and service checks, as `datadog-agent check` does.
// Exit code: 0 all instances OK or WARNING; 1 an instance is CRITICAL/UNKNOWN
// or failed; 2 no usable configuration.
#include "agent/host_context.h"
#include "cli/commands.h"
#include "collectors/check_results.h"
#include "collectors/plugin_runner.h"
#include "config/agent_config.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <thread>

namespace tracer::cli {
namespace {

const char* status_name(collectors::CheckStatus s) {
    switch (s) {
        case collectors::CheckStatus::Ok: return "OK";
        case collectors::CheckStatus::Warning: return "WARNING";
        case collectors::CheckStatus::Critical: return "CRITICAL";
        case collectors::CheckStatus::Unknown: return "UNKNOWN";
    }
    return "UNKNOWN";
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
    return out;
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

void print_table(const std::vector<collectors::InstanceReport>& reports) {
    for (const auto& r : reports) {
        std::printf("=== %s ===\n", r.id.c_str());
        std::printf("  status %s, %llu run(s), last %.0f ms%s%s\n", status_name(r.worst()),
                    static_cast<unsigned long long>(r.runs + r.timeouts), r.last_duration * 1000,
                    r.tags.empty() ? "" : ", tags ", join(r.tags).c_str());
        if (!r.last_error.empty()) std::printf("  error: %s\n", r.last_error.c_str());
        if (!r.metrics.empty()) {
            size_t width = 6;
            for (const auto& m : r.metrics) width = std::max(width, m.name.size());
            std::printf("\n  %-*s  %-15s  %15s  %s\n", static_cast<int>(width), "METRIC", "TYPE", "VALUE", "TAGS");
            auto tag_labels = collectors::labels_from_tags(r.tags);
            for (const auto& m : r.metrics)
                std::printf("  %-*s  %-15s  %15s  %s\n", static_cast<int>(width), m.name.c_str(),
                            collectors::kind_name(m.kind), number(m.value).c_str(),
                            join(collectors::tags_from_labels(collectors::merged_labels(m.labels, tag_labels))).c_str());
        }
        if (!r.service_checks.empty()) {
            std::printf("\n  %-30s  %-8s  %s\n", "SERVICE CHECK", "STATUS", "MESSAGE");
            auto tag_labels = collectors::labels_from_tags(r.tags);
            for (const auto& sc : r.service_checks) {
                std::string tags = join(collectors::tags_from_labels(collectors::merged_labels(sc.labels, tag_labels)));
                if (!tags.empty()) tags = (sc.message.empty() ? "[" : " [") + tags + "]";
                std::printf("  %-30s  %-8s  %s%s\n", sc.name.c_str(), status_name(sc.status), sc.message.c_str(),
                            tags.c_str());
            }
        }
        std::printf("\n");
    }
}

void print_json(const std::vector<collectors::InstanceReport>& reports, const std::vector<collectors::ConfdProblem>& problems) {
    nlohmann::json out = nlohmann::json::object();
    out["instances"] = nlohmann::json::array();
    for (const auto& r : reports) {
        nlohmann::json i;
        i["instance"] = r.id;
        i["plugin"] = r.plugin;
        i["tags"] = r.tags;
        i["status"] = status_name(r.worst());
        i["runs"] = r.runs;
        i["timeouts"] = r.timeouts;
        i["duration_seconds"] = r.last_duration;
        i["error"] = r.last_error;
        i["metrics"] = nlohmann::json::array();
        auto tag_labels = collectors::labels_from_tags(r.tags);
        for (const auto& m : r.metrics)
            i["metrics"].push_back({{"name", m.name},
                                    {"type", collectors::kind_name(m.kind)},
                                    {"value", m.value},
                                    {"unit", m.unit},
                                    {"tags", collectors::tags_from_labels(collectors::merged_labels(m.labels, tag_labels))}});
        i["service_checks"] = nlohmann::json::array();
        for (const auto& sc : r.service_checks)
            i["service_checks"].push_back({{"name", sc.name},
                                           {"status", status_name(sc.status)},
                                           {"message", sc.message},
                                           {"tags", collectors::tags_from_labels(
                                                        collectors::merged_labels(sc.labels, tag_labels))}});
        out["instances"].push_back(std::move(i));
    }
    out["config_errors"] = nlohmann::json::array();
    for (const auto& p : problems) out["config_errors"].push_back(p.message);
    std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

CLI::App* add_check_command(CLI::App& app, CheckFlags& f) {
    auto* check = app.add_subcommand("check", "Run one integration plugin's conf.d instances once and print what they report");
    check->add_option("name", f.plugin, "The plugin (the conf.d file name: redis for redis.yaml)")->required();
    check->add_option("--confd", f.confd, "The conf.d directory")->capture_default_str();
    check->add_option("--format", f.format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
    check->add_option("--host-root", f.host_root, "Where the host's / is mounted (system, container, process plugins)");
    auto* config = check->add_option("-c,--config", f.config_path,
                                     "Agent config (YAML): the Docker socket and container tags the container plugin uses")
                       ->capture_default_str();
    check->callback([&f, config] { f.config_given = config->count() > 0; });
    check->add_flag("--check-rate", f.check_rate, "Run twice, 1 s apart, so per-second rates have a value");
    return check;
}

int check_command(const CheckFlags& f) {
    if (!collectors::find_plugin(f.plugin)) {
        std::string known;
        for (const auto& p : collectors::plugin_registry()) known += (known.empty() ? "" : ", ") + p.name;
        std::fprintf(stderr, "tracer check: unknown plugin '%s' (known: %s)\n", f.plugin.c_str(), known.c_str());
        return 2;
    }
    config::AgentConfig agent_config;
    try {
        agent_config = config::load_agent_config(f.config_path, f.config_given);
        if (!f.host_root.empty()) agent_config.host_root = f.host_root;
        config::validate(agent_config);
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "tracer check: config error: %s\n", e.what());
        return 2;
    }
    // The host as `tracer run` sees it (cgroup layout, container names, the
    // Docker socket), for plugins that report per container. Declared before
    // the runner: it outlives every run.
    std::unique_ptr<agent::HostContext> host;
    collectors::ConfdOptions options;
    try {
        host = std::make_unique<agent::HostContext>(agent_config);
        options.host = host->plugin_services();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer check: the host's containers are not named: %s\n", e.what());
    }
    options.dir = f.confd;
    options.host_root = agent_config.host_root;
    options.only_plugin = f.plugin;
    options.missing_dir_is_error = true;
    auto load = collectors::load_confd(options);
    for (const auto& p : load.problems) std::fprintf(stderr, "tracer check: config error: %s\n", p.message.c_str());
    if (load.instances.empty()) {
        if (load.problems.empty())
            std::fprintf(stderr, "tracer check: no %s instances in %s (%s/%s.yaml)\n", f.plugin.c_str(), f.confd.c_str(),
                         f.confd.c_str(), f.plugin.c_str());
        return 2;
    }
    auto problems = load.problems;
    collectors::PluginRunner runner(std::move(load.instances), load.problems, collectors::PluginRunnerOptions{});
    runner.run_once();
    if (f.check_rate) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        runner.run_once();
    }
    auto reports = runner.reports();
    if (f.format == "json")
        print_json(reports, problems);
    else
        print_table(reports);
    std::fflush(stdout);
    bool failed = std::any_of(reports.begin(), reports.end(), [](const auto& r) {
        auto w = r.worst();
        return !r.last_error.empty() || w == collectors::CheckStatus::Critical || w == collectors::CheckStatus::Unknown;
    });
    int code = failed ? 1 : problems.empty() ? 0 : 2;
    // A hung run was written off and its thread may still be inside the check:
    // leave without running static destructors under it.
    if (std::any_of(reports.begin(), reports.end(), [](const auto& r) { return r.timeouts > 0; })) {
        std::fflush(stderr);
        std::_Exit(code);
    }
    return code;
}

}  // namespace tracer::cli
