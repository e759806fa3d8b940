// Apache httpd from Debian (apache2) on a free loopback port with its own
// ServerRoot (a ServerProcess): mod_status at /server-status, /index.html,
// plus `extra_config` (e.g. a php-fpm proxy) and `extra_modules` lines.
#pragma once

#include "server_process.h"

#include <string>

namespace tracer::fixtures {

class ApacheServer {
public:
    // Check skip_reason() (binary missing) and start_error() (it did not come up) first.
    explicit ApacheServer(const std::string& extra_config = "", const std::string& extra_modules = "");
    const std::string& skip_reason() const { return skip_reason_; }
    const std::string& start_error() const { return start_error_; }
    uint16_t port() const { return server_.port(); }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
    void stop() { server_.stop(); }
    pid_t pid() const { return server_.pid(); }

private:
    ServerProcess server_;
    std::string skip_reason_, start_error_;
};

}  // namespace tracer::fixtures
