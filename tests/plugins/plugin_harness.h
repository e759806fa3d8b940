// Drives one integration plugin's check in a test the way the runner does:
// builds the Check from an instance's YAML through the registry, runs it once
// into the runner's CollectedRun, and keeps what run() threw. The values the
// check handed over stay raw (no rates derived), so tests can assert exact
// counts.
#pragma once

#include "collectors/check_results.h"
#include "collectors/plugin.h"
#include "fixtures.h"
#include "plugin_servers.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tracer::plugin_tests {

// The runner's own CheckRun (rates as the cumulative values read), plus
// lookups for assertions and what run() threw.
class RecordingCheckRun : public collectors::CollectedRun {
public:
    using collectors::CollectedRun::CollectedRun;

    // The value reported for `name` with exactly these labels (any order);
    // nullopt if none. A name reported twice with the same labels fails the test.
    std::optional<double> value(const std::string& name, metrics::Labels labels = {}) const;
    const collectors::ReportedMetric* point(const std::string& name, metrics::Labels labels = {}) const;
    // Every point of `name`, whatever its labels.
    std::vector<collectors::ReportedMetric> points(const std::string& name) const;
    // The last service check of that name; nullptr if none.
    const collectors::ReportedServiceCheck* check(const std::string& name) const;
    // "name{labels}=value" per line, for failure messages.
    std::string dump() const;

    std::string error;  // what run() threw ("" if it returned)
};

// Builds the check of `plugin` from one instance written in YAML; throws
// what the factory throws (config::ConfigError).
std::unique_ptr<collectors::Check> make_check(const std::string& plugin, const std::string& instance_yaml,
                                              const std::string& file = "/etc/tracer/conf.d/test.yaml");

// One run with `timeout`, as the runner would do it.
RecordingCheckRun run_once(collectors::Check& check, std::chrono::seconds timeout = std::chrono::seconds(10));

// GET over TCP or a Unix socket (tests/support/plugin_servers.h).
using fixtures::http_get;
using fixtures::http_get_unix;

}  // namespace tracer::plugin_tests
