// Drives one integration plugin's check in a test the way the runner does:
// builds the Check from an instance's YAML through the registry, runs it once
// against a CheckRun that records everything, and keeps what run() threw.
// Plus what the server suites share: a temp directory, a server process that
// is stopped gracefully, waiting for a port.
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

// A directory under /tmp, removed with everything in it when destroyed.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    void write(const std::string& name, const std::string& text) const;

private:
    std::string path_;
};

// A server in the foreground, stopped with `stop_signal` (then SIGKILL after
// 20 s) when destroyed.
class RunningServer {
public:
    RunningServer(std::vector<std::string> argv, int stop_signal, uid_t run_as = static_cast<uid_t>(-1));
    ~RunningServer();
    RunningServer(const RunningServer&) = delete;
    RunningServer& operator=(const RunningServer&) = delete;
    // Until 127.0.0.1:`port` accepts a connection; false (with the server's
    // output in `why`) if the server exits or 30 s pass first.
    bool wait_port(uint16_t port, std::string& why);
    // Until `path` exists (a Unix socket); same contract.
    bool wait_path(const std::string& path, std::string& why);
    // Stops it now (same as the destructor).
    void stop();
    std::string output() const { return process_.output(); }

private:
    fixtures::Subprocess process_;
    int stop_signal_;
    bool stopped_ = false;
};

// "" if every binary exists and is executable; else the skip reason naming the
// missing one and the Debian package that has it.
std::string missing_binary(const std::vector<std::pair<std::string, std::string>>& binary_and_package);

// GET http://127.0.0.1:`port``path`; the HTTP status (0 if no answer).
int http_get(uint16_t port, const std::string& path);

}  // namespace tracer::plugin_tests
