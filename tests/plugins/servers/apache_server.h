// Apache httpd from Debian (apache2) on a free loopback port with its own
// ServerRoot in a temp dir: mod_status at /server-status plus `extra`
// configuration (e.g. a php-fpm proxy).
#pragma once

#include "plugin_harness.h"

#include <memory>
#include <string>

namespace tracer::plugin_tests {

class ApacheServer {
public:
    // Check skip_reason() (binary missing) and start_error() (it did not come up) first.
    explicit ApacheServer(const std::string& extra_config = "", const std::string& extra_modules = "");
    const std::string& skip_reason() const { return skip_reason_; }
    const std::string& start_error() const { return start_error_; }
    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    void stop() { if (server_) server_->stop(); }

private:
    std::string skip_reason_, start_error_;
    uint16_t port_ = 0;
    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<RunningServer> server_;
};

}  // namespace tracer::plugin_tests
