// Running a plugin from a conf.d text the way the agent does (conf.d loader,
// plugin runner), for the plugin tests in collectors/<name>/.
#pragma once

#include "collectors/plugin_runner.h"

#include <memory>
#include <string>
#include <vector>

namespace tracer::fixtures {

class PluginUnderTest {
public:
    // Loads `yaml` as conf.d/<plugin>.yaml; fails the test (ADD_FAILURE) on problems.
    PluginUnderTest(const std::string& plugin, const std::string& yaml);
    // One run of every instance; the report of instance `index`.
    collectors::InstanceReport run(size_t index = 0);
    // One run of every instance; every instance's report, in file order.
    std::vector<collectors::InstanceReport> run_all();
    collectors::PluginRunner& runner() { return *runner_; }

private:
    std::unique_ptr<collectors::PluginRunner> runner_;
};

// The value of the metric `name` whose labels include every one of `labels`;
// -1 if none (metrics are never negative in these tests).
double metric_of(const collectors::InstanceReport& report, const std::string& name,
                 const metrics::Labels& labels = {});
// The status of the service check `name`; Unknown if absent. `message` gets its message.
collectors::CheckStatus service_check_of(const collectors::InstanceReport& report, const std::string& name,
                                         std::string* message = nullptr);

}  // namespace tracer::fixtures
