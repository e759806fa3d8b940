// Drives one integration plugin's check in a test the way the runner does:
// builds the Check from an instance's YAML through the registry, runs it once
// against a CheckRun that records everything, and keeps what run() threw.
#pragma once

#include "collectors/plugin.h"
#include "fixtures.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tracer::plugin_tests {

class RecordingCheckRun : public collectors::CheckRun {
public:
    enum class Kind { Gauge, MonotonicCount, Rate };
    struct Point {
        std::string name;
        metrics::Labels labels;
        double value = 0;
        Kind kind = Kind::Gauge;
        std::string unit;
    };
    struct ServiceCheck {
        std::string name;
        collectors::CheckStatus status = collectors::CheckStatus::Unknown;
        std::string message;
    };

    explicit RecordingCheckRun(std::chrono::steady_clock::time_point deadline) : deadline_(deadline) {}

    void gauge(const std::string& name, double value, metrics::Labels labels, const std::string& unit) override;
    void monotonic_count(const std::string& name, double value, metrics::Labels labels, const std::string& unit) override;
    void rate(const std::string& name, double cumulative, metrics::Labels labels, const std::string& unit) override;
    void service_check(const std::string& name, collectors::CheckStatus status, const std::string& message) override;
    std::chrono::steady_clock::time_point deadline() const override { return deadline_; }

    // The value reported for `name` with exactly these labels (any order);
    // nullopt if none. A name reported twice with the same labels fails the test.
    std::optional<double> value(const std::string& name, metrics::Labels labels = {}) const;
    const Point* point(const std::string& name, metrics::Labels labels = {}) const;
    // Every point of `name`, whatever its labels.
    std::vector<Point> points(const std::string& name) const;
    // The last service check of that name; nullptr if none.
    const ServiceCheck* check(const std::string& name) const;
    // "name{labels}=value" per line, for failure messages.
    std::string dump() const;

    std::vector<Point> recorded;
    std::vector<ServiceCheck> service_checks;
    std::string error;  // what run() threw ("" if it returned)

private:
    std::chrono::steady_clock::time_point deadline_;
};

// Builds the check of `plugin` from one instance written in YAML; throws
// what the factory throws (config::ConfigError).
std::unique_ptr<collectors::Check> make_check(const std::string& plugin, const std::string& instance_yaml,
                                              const std::string& file = "/etc/tracer/conf.d/test.yaml");

// One run with `timeout`, as the runner would do it.
RecordingCheckRun run_once(collectors::Check& check, std::chrono::seconds timeout = std::chrono::seconds(10));

// GET http://127.0.0.1:`port``path`; the HTTP status (0 if no answer).
int http_get(uint16_t port, const std::string& path);
// The same over the Unix socket `socket_path`: no stray TCP client can add to
// what the server counts.
int http_get_unix(const std::string& socket_path, const std::string& path);

}  // namespace tracer::plugin_tests
