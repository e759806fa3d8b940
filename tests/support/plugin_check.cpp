#include "plugin_check.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace tracer::fixtures {

PluginUnderTest::PluginUnderTest(const std::string& plugin, const std::string& yaml) {
    auto load = collectors::load_confd_text(yaml, plugin + ".yaml", plugin);
    for (const auto& p : load.problems) ADD_FAILURE() << p.message;
    runner_ = std::make_unique<collectors::PluginRunner>(std::move(load.instances), std::move(load.problems),
                                                         collectors::PluginRunnerOptions{});
}

collectors::InstanceReport PluginUnderTest::run(size_t index) {
    runner_->run_once();
    auto reports = runner_->reports();
    if (index >= reports.size()) {
        ADD_FAILURE() << "no instance " << index;
        return {};
    }
    return reports[index];
}

std::vector<collectors::InstanceReport> PluginUnderTest::run_all() {
    runner_->run_once();
    return runner_->reports();
}

double metric_of(const collectors::InstanceReport& report, const std::string& name, const metrics::Labels& labels) {
    for (const auto& m : report.metrics) {
        if (m.name != name) continue;
        bool all = std::all_of(labels.begin(), labels.end(), [&](const auto& l) {
            return std::find(m.labels.begin(), m.labels.end(), l) != m.labels.end();
        });
        if (all) return m.value;
    }
    return -1;
}

collectors::CheckStatus service_check_of(const collectors::InstanceReport& report, const std::string& name,
                                         std::string* message) {
    for (const auto& sc : report.service_checks)
        if (sc.name == name) {
            if (message) *message = sc.message;
            return sc.status;
        }
    return collectors::CheckStatus::Unknown;
}

}  // namespace tracer::fixtures
