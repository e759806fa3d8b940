// A real, throw-away Docker engine for the container tests: Debian's
// docker.io dockerd with the cgroupfs driver, its own data and exec roots and
// API socket under /tmp (never the host's /var/run/docker.sock), no network
// setup, and a busybox image made with `docker import` (no registry).
#pragma once

#include "fixtures.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tracer::fixtures {

// A static busybox (the host's busybox-static) with its applet links and a
// passwd, as a tar in `dir`, for `docker import` / `podman import`. Returns
// the tar's path; throws std::runtime_error. "" from busybox_path() when absent.
std::string busybox_rootfs_tar(const std::string& dir);
std::string busybox_path();
// Lazily unmounts everything mounted below `dir`, then removes it.
void unmount_and_remove(const std::string& dir);

class DockerEngine {
public:
    // "" when dockerd, the docker CLI and a static busybox are installed and we
    // are root; otherwise why not (for GTEST_SKIP).
    static std::string skip_reason();

    // For a suite's SetUpTestSuite: an engine, or null with `skip` set (not root,
    // docker.io missing) or `error` set (dockerd did not come up).
    static std::unique_ptr<DockerEngine> start_for_suite(std::string& skip, std::string& error);

    // Starts dockerd and imports the image; throws std::runtime_error with
    // dockerd's log tail when it does not come up.
    DockerEngine();
    ~DockerEngine();  // removes every container, stops dockerd, cleans up
    DockerEngine(const DockerEngine&) = delete;
    DockerEngine& operator=(const DockerEngine&) = delete;

    const std::string& socket() const { return socket_; }
    const std::string& image() const { return image_; }  // "tracer-busybox:e2e"

    // Runs the docker CLI against this engine; returns its stdout+stderr
    // trimmed, and fails the test (ADD_FAILURE) when it exits non-zero.
    std::string docker(const std::vector<std::string>& args);
    // Same, without failing: {exit code, output}.
    std::pair<int, std::string> try_docker(const std::vector<std::string>& args);

    // kill -9 dockerd (containerd and the shims die or linger as they would
    // after a crash), then start it again on the same roots and socket.
    void crash_and_restart();

private:
    void start_dockerd();
    void stop_dockerd();
    void clear_leftovers();  // stale containerd pid file, orphaned shims of our exec root
    void import_image();

    std::string dir_, socket_, data_root_, exec_root_, pidfile_, image_ = "tracer-busybox:e2e";
    std::unique_ptr<Subprocess> dockerd_;
};

// A test suite sharing one engine: started before its first test, stopped
// after its last; every test skips with the reason when docker.io is not
// there, fails when dockerd did not come up, and has the containers it ran
// removed afterwards.
class DockerEngineSuite : public ::testing::Test {
protected:
    static void SetUpTestSuite() { engine_ = DockerEngine::start_for_suite(skip_, setup_error_); }
    static void TearDownTestSuite() { engine_.reset(); }
    // Derived SetUp()s return when IsSkipped() or HasFatalFailure() after it.
    void SetUp() override;
    void TearDown() override;

    // `docker run -d --name <name> <extra...> <busybox> sh -c <script>`: the id.
    std::string run_container(const std::string& name, const std::vector<std::string>& extra, const std::string& script);

    static inline std::string skip_, setup_error_;
    static inline std::unique_ptr<DockerEngine> engine_;
    std::vector<std::string> started_;  // names removed after the test
};

}  // namespace tracer::fixtures
