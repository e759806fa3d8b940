// A real VictoriaMetrics (Debian package victoria-metrics) for the forwarder
// tests: its own storage under a temp dir, on a loopback port, stopped and
// restarted on the same port and storage at will; queried back through
// /api/v1/export.
#pragma once

#include "fixtures.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tracer::fixtures {

struct ExportedSeries {
    std::map<std::string, std::string> labels;  // __name__ included
    std::vector<double> values;
    std::vector<int64_t> timestamps;            // unix ms
};

class VictoriaMetrics {
public:
    static constexpr const char* kBinary = "/usr/bin/victoria-metrics";
    // "" when the binary is installed; else why the test must skip.
    static std::string skip_reason();

    // Picks a free port and a fresh storage dir; does not start.
    VictoriaMetrics();
    ~VictoriaMetrics();  // stops, removes the storage
    VictoriaMetrics(const VictoriaMetrics&) = delete;
    VictoriaMetrics& operator=(const VictoriaMetrics&) = delete;

    // Serve HTTPS with this certificate and key (PEM) from the next start() on.
    // export_series() then does not work (the fixture's client speaks plain HTTP).
    void use_tls(const std::string& cert_file, const std::string& key_file);
    // Starts and waits until /health answers (with TLS: until it accepts
    // connections); false (with output()) if it does not.
    bool start();
    void stop();
    bool running() const { return process_ != nullptr; }
    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const;  // "http://127.0.0.1:<port><path>"
    std::string output() const;                     // the last run's log

    // The series matching `selector` (e.g. '{__name__=~"tracer_test_.*"}'),
    // sorted by labels, points by time; waits (up to ~10 s) until at least
    // `min_points` points in all are searchable.
    std::vector<ExportedSeries> export_series(const std::string& selector, size_t min_points = 1);

private:
    std::vector<ExportedSeries> export_once(const std::string& selector);

    uint16_t port_;
    std::vector<std::string> tls_args_;
    std::string storage_;
    std::unique_ptr<Subprocess> process_;
    std::string last_output_;
};

// The one series in `all` with exactly these labels (host and global tags
// included), or null.
const ExportedSeries* find_series(const std::vector<ExportedSeries>& all,
                                  const std::map<std::string, std::string>& labels);

}  // namespace tracer::fixtures
