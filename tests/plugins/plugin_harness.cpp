#include "plugin_harness.h"

#include "collectors/plugin.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace tracer::plugin_tests {

using collectors::CheckStatus;

namespace {

metrics::Labels sorted(metrics::Labels labels) {
    std::sort(labels.begin(), labels.end());
    return labels;
}

}  // namespace

const collectors::ReportedMetric* RecordingCheckRun::point(const std::string& name, metrics::Labels labels) const {
    labels = sorted(std::move(labels));
    const collectors::ReportedMetric* found = nullptr;
    for (const auto& p : metrics) {
        if (p.name != name || sorted(p.labels) != labels) continue;
        EXPECT_EQ(found, nullptr) << name << " reported twice with the same labels";
        found = &p;
    }
    return found;
}

std::optional<double> RecordingCheckRun::value(const std::string& name, metrics::Labels labels) const {
    const collectors::ReportedMetric* p = point(name, std::move(labels));
    if (!p) return std::nullopt;
    return p->value;
}

std::vector<collectors::ReportedMetric> RecordingCheckRun::points(const std::string& name) const {
    std::vector<collectors::ReportedMetric> out;
    for (const auto& p : metrics)
        if (p.name == name) out.push_back(p);
    return out;
}

const collectors::ReportedServiceCheck* RecordingCheckRun::check(const std::string& name) const {
    const collectors::ReportedServiceCheck* found = nullptr;
    for (const auto& s : service_checks)
        if (s.name == name) found = &s;
    return found;
}

std::string RecordingCheckRun::dump() const {
    std::ostringstream out;
    for (const auto& p : metrics) {
        out << p.name << "{";
        for (size_t i = 0; i < p.labels.size(); ++i) out << (i ? "," : "") << p.labels[i].name << "=" << p.labels[i].value;
        out << "}=" << p.value << "\n";
    }
    for (const auto& s : service_checks)
        out << "service check " << s.name << " " << static_cast<int>(s.status) << " " << s.message << "\n";
    if (!error.empty()) out << "error: " << error << "\n";
    return out.str();
}

std::unique_ptr<collectors::Check> make_check(const std::string& plugin, const std::string& instance_yaml,
                                              const std::string& file) {
    const auto* info = collectors::find_plugin(plugin);
    if (!info) throw std::runtime_error("no plugin '" + plugin + "' in the registry");
    collectors::InstanceConfig config;
    config.plugin = plugin;
    config.file = file;
    config.instance = YAML::Load(instance_yaml);
    return info->factory(config);
}

RecordingCheckRun run_once(collectors::Check& check, std::chrono::seconds timeout) {
    RecordingCheckRun run(std::chrono::steady_clock::now() + timeout);
    try {
        check.run(run);
    } catch (const std::exception& e) {
        run.error = e.what();
    }
    return run;
}

}  // namespace tracer::plugin_tests
