// conf.d: one YAML file per plugin, in the format of Datadog-style agents:
//
//   # <confd>/redis.yaml (or <confd>/redis.d/*.yaml)
//   init_config:            # file-wide defaults for the instance keys
//   instances:
//     - host: 127.0.0.1
//       port: 6379
//       password_env: REDIS_PASSWORD
//       tags: [env:prod]
//       min_collection_interval: 30   # seconds; default: the agent interval
//       timeout: 5                     # seconds per run
//
// A file that cannot be used (YAML syntax, an unknown plugin, a wrong key) is
// one error naming the file and line; the other files and instances still load.
#pragma once

#include "collectors/plugin.h"

#include <memory>
#include <string>
#include <vector>

namespace tracer::collectors {

// Keys every instance accepts, whatever the plugin.
const std::vector<std::string>& common_instance_keys();

struct LoadedInstance {
    InstanceConfig config;
    const PluginInfo* plugin = nullptr;
    std::shared_ptr<Check> check;
};

struct ConfdProblem {
    std::string file;     // the conf.d file
    std::string message;  // one line, "<file>:<line>: ..."
};

struct ConfdLoad {
    std::vector<LoadedInstance> instances;
    std::vector<ConfdProblem> problems;
};

struct ConfdOptions {
    std::string dir = "/etc/tracer/conf.d";
    std::string host_root;                // "" or the --host-root prefix
    std::shared_ptr<const HostServices> host;  // handed to every instance (InstanceConfig::host)
    std::string only_plugin;              // "" = every file; else only this plugin's
    bool missing_dir_is_error = false;    // `tracer check` wants the directory
};

// Reads every <name>.yaml / <name>.yml and <name>.d/*.yaml in the directory
// (sorted), checks the keys and builds one Check per instance with its
// plugin's factory. Never throws for a file's content: problems are returned.
ConfdLoad load_confd(const ConfdOptions& options);

// One file's text (for tests): `file` names it in errors, `plugin_name` is its stem.
ConfdLoad load_confd_text(const std::string& text, const std::string& file, const std::string& plugin_name,
                          const std::string& host_root = "", std::shared_ptr<const HostServices> host = nullptr);

}  // namespace tracer::collectors
