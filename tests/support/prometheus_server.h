// A real Prometheus server (Debian package `prometheus`) for the end-to-end
// tests: its own TSDB under a temp dir, a loopback port, scraping the targets
// it is given every second; queried through its HTTP API.
#pragma once

#include "fixtures.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace tracer::fixtures {

class PrometheusServer {
public:
    static constexpr const char* kBinary = "/usr/bin/prometheus";
    static constexpr const char* kPromtool = "/usr/bin/promtool";
    // "" when both binaries are installed; else why the test must skip.
    static std::string skip_reason();

    // Scrapes http://127.0.0.1:<target_port>/metrics as job "tracer" every second.
    explicit PrometheusServer(uint16_t target_port);
    ~PrometheusServer();  // stops, removes the TSDB
    PrometheusServer(const PrometheusServer&) = delete;
    PrometheusServer& operator=(const PrometheusServer&) = delete;

    // Starts and waits until /-/ready answers; false (with output()) if it does not.
    bool start();
    void stop();
    std::string output() const;

    // GET /api/v1/query?query=<promql>: the "data" object, or null on failure.
    nlohmann::json query(const std::string& promql);
    // The targets' last scrape errors ("" for a healthy target), from /api/v1/targets.
    std::string target_errors();

private:
    uint16_t port_;
    uint16_t target_port_;
    std::string dir_;
    std::unique_ptr<Subprocess> process_;
    std::string last_output_;
};

// `promtool check metrics` on a /metrics body: its exit code (0 valid, 1 not
// parseable, 3 valid with lint findings) and what it printed.
struct PromtoolResult {
    int exit_code = -1;
    std::string output;
};
PromtoolResult promtool_check_metrics(const std::string& body);

}  // namespace tracer::fixtures
