// The contract between an integration plugin (collectors/<name>/) and the
// plugin runner. A plugin is a factory of checks: one Check per entry of
// `instances:` in conf.d/<name>.yaml. The runner calls Check::run() on a
// worker thread on the instance's own schedule, with a deadline; what a run
// reports goes into the next interval's snapshot with the instance's tags.
#pragma once

#include "metrics/series.h"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tracer::collectors {

struct HostServices;  // collectors/host_services.h

enum class CheckStatus { Ok = 0, Warning = 1, Critical = 2, Unknown = 3 };

// One instance's configuration, as the runner hands it to the factory.
struct InstanceConfig {
    std::string plugin;           // "redis"
    std::string file;             // the conf.d file, for errors: "<file>:<line>: ..."
    size_t index = 0;             // position in instances:
    YAML::Node init_config;       // the file's init_config: (may be null)
    YAML::Node instance;          // this entry of instances:
    std::vector<std::string> tags;  // "key:value" from the instance's tags:
    double timeout_seconds = 5;
    double min_collection_interval = 0;  // 0: the agent interval
    std::string host_root;        // "" or the --host-root prefix for /proc, /sys, /run
    // The agent's view of the host (cgroup layout, container naming, Docker
    // socket); null where no host context was built (most plugin tests).
    std::shared_ptr<const HostServices> host;
};

// What one run of a check reports. Names are canonical dotted lowercase and
// follow the matching Datadog integration ("redis.keys", "nginx.net.request_per_s").
class CheckRun {
public:
    virtual ~CheckRun() = default;
    virtual void gauge(const std::string& name, double value, metrics::Labels labels = {},
                       const std::string& unit = "") = 0;
    // A cumulative, monotonic count read from the server (e.g. total commands):
    // exported as a counter.
    virtual void monotonic_count(const std::string& name, double value, metrics::Labels labels = {},
                                 const std::string& unit = "") = 0;
    // A cumulative count the integration reports as a per-second rate (Datadog's
    // "rate"): the runner derives the rate between two runs and exports a gauge.
    virtual void rate(const std::string& name, double cumulative, metrics::Labels labels = {},
                      const std::string& unit = "") = 0;
    // The instance's service checks (its status check, see Check, and any others).
    // `labels`: what this one is about (a backend of a load balancer), beside the
    // instance's tags; one name may be reported once per label set.
    virtual void service_check(const std::string& name, CheckStatus status, const std::string& message = "",
                               metrics::Labels labels = {}) = 0;
    // Blocking I/O in run() must give up by then (the runner abandons the run after it).
    virtual std::chrono::steady_clock::time_point deadline() const = 0;
};

class Check {
public:
    virtual ~Check() = default;
    // One collection. Throwing std::exception is a failed run: the runner
    // records the message as the instance's last error and reports its
    // status check (below) critical with it unless the check already did.
    virtual void run(CheckRun& out) = 0;
    // The service check a failed or abandoned run is reported on, and that a
    // clean run reports OK unless the check did: "" is `<plugin>.can_connect`.
    // Another name where the integration the plugin follows names it otherwise
    // (Datadog's memcached check: memcache.can_connect; a prometheus
    // endpoint's: `<namespace>.openmetrics.health`).
    virtual std::string status_check() const { return ""; }
};

// Throws config::ConfigError ("<file>:<line>: ...") for a bad instance.
using CheckFactory = std::function<std::unique_ptr<Check>(const InstanceConfig&)>;

struct PluginInfo {
    std::string name;          // the conf.d file stem and the metric prefix
    std::string description;   // one line
    CheckFactory factory;
    std::vector<std::string> keys;  // the instance keys it accepts beyond the common ones
};

// collectors/registry.cpp: one line per plugin.
const std::vector<PluginInfo>& plugin_registry();
const PluginInfo* find_plugin(const std::string& name);

}  // namespace tracer::collectors
