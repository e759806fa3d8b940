// podman's Docker-compatible API, for the container tests: rootful podman
// with private storage under /tmp, the cgroupfs manager (no systemd here),
// `podman system service` on a unix socket, a busybox image from `podman
// import`. Containers need --ulimit nofile/nproc (no CAP_SYS_RESOURCE here).
#pragma once

#include "fixtures.h"

#include <memory>
#include <string>
#include <vector>

namespace tracer::fixtures {

class PodmanService {
public:
    static std::string skip_reason();  // "" when podman and busybox-static are installed and we are root
    PodmanService();                   // throws std::runtime_error with the service log
    ~PodmanService();
    PodmanService(const PodmanService&) = delete;
    PodmanService& operator=(const PodmanService&) = delete;

    const std::string& socket() const { return socket_; }
    const std::string& image() const { return image_; }  // "localhost/tracer-busybox:e2e"
    // The podman CLI as a client of the service; fails the test on non-zero exit.
    std::string podman(const std::vector<std::string>& args);
    // Same, without failing: {exit code, output}.
    std::pair<int, std::string> try_podman(const std::vector<std::string>& args);

private:
    std::string dir_, socket_, image_ = "localhost/tracer-busybox:e2e";
    std::unique_ptr<Subprocess> service_;
};

}  // namespace tracer::fixtures
