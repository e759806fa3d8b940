#include "podman_service.h"

#include "docker_engine.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace tracer::fixtures {
namespace {
const char* kPodman = "/usr/bin/podman";
}

std::string PodmanService::skip_reason() {
    if (geteuid() != 0) return "needs root (rootful podman)";
    if (access(kPodman, X_OK) != 0) return "podman is not installed: scripts/install-deps.sh --test";
    if (busybox_path().empty()) return "busybox-static is not installed: scripts/install-deps.sh --test";
    return "";
}

PodmanService::PodmanService() {
    dir_ = "/tmp/tracer-podman-" + std::to_string(getpid());
    socket_ = dir_ + "/podman.sock";
    std::filesystem::create_directories(dir_ + "/tmp");
    service_ = std::make_unique<Subprocess>(std::vector<std::string>{
        kPodman, "--root", dir_ + "/root", "--runroot", dir_ + "/run", "--tmpdir", dir_ + "/tmp", "--cgroup-manager",
        "cgroupfs", "--events-backend", "file", "system", "service", "--time", "0", "unix://" + socket_});
    auto end = std::chrono::steady_clock::now() + 30s;
    bool up = false;
    while (!up && service_->running() && std::chrono::steady_clock::now() < end) {
        up = std::filesystem::exists(socket_) && try_podman({"version"}).first == 0;
        if (!up) std::this_thread::sleep_for(100ms);
    }
    if (!up) throw std::runtime_error("podman system service did not come up: " + service_->output());
    auto [rc, out] = try_podman({"import", "-c", "CMD [\"/bin/sh\"]", busybox_rootfs_tar(dir_), image_});
    if (rc != 0) throw std::runtime_error("podman import failed: " + out);
}

PodmanService::~PodmanService() {
    try_podman({"rm", "-f", "-a", "-t", "0"});
    if (service_) {
        service_->signal(SIGTERM);
        if (service_->wait_for(10s) < 0) service_->signal(SIGKILL);
        service_.reset();
    }
    unmount_and_remove(dir_);
}

std::pair<int, std::string> PodmanService::try_podman(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kPodman, "--url", "unix://" + socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    Subprocess p(argv);
    int rc = p.wait_for(60s);
    return {rc, p.output()};
}

std::string PodmanService::podman(const std::vector<std::string>& args) {
    auto [rc, out] = try_podman(args);
    if (rc != 0) ADD_FAILURE() << "podman " << (args.empty() ? "" : args[0]) << " exited " << rc << ": " << out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

}  // namespace tracer::fixtures
