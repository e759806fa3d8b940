// A real nginx (Debian nginx-light) in the foreground on a free loopback
// port, its own prefix dir, with stub_status at /nginx_status and static files
// under /, for the nginx and http_check plugin tests.
#pragma once

#include "server_process.h"

#include <string>

namespace tracer::fixtures {

class NginxServer : public ServerProcess {
public:
    // `extra_locations`: more nginx `location` blocks for the server.
    explicit NginxServer(const std::string& extra_locations = "");
    // Serves `content` at /`name`.
    void put(const std::string& name, const std::string& content) const;
    std::string url(const std::string& path) const;  // "http://127.0.0.1:<port><path>"
};

// A loopback TCP port that accepts connections and never answers: a server
// that hangs. Closed when destroyed.
class SilentServer {
public:
    SilentServer();
    ~SilentServer();
    SilentServer(const SilentServer&) = delete;
    SilentServer& operator=(const SilentServer&) = delete;
    uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

}  // namespace tracer::fixtures
