// A real server from Debian (redis-server, memcached, nginx, postgres, ...)
// started by a test: its own fresh data directory, a free loopback TCP port,
// stopped (and the directory removed) when the fixture goes. Stop and start
// again keep the port and the directory, for "the server went away" tests.
//
//   ServerProcess redis({"/usr/bin/redis-server", "--port", "{port}", "--dir", "{dir}"});
//   if (auto why = redis.skip_reason(); !why.empty()) GTEST_SKIP() << why;
//   ASSERT_TRUE(redis.start()) << redis.output();
#pragma once

#include "fixtures.h"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tracer::fixtures {

// True when something accepts a TCP connection on 127.0.0.1:`port` now.
bool accepts_tcp(uint16_t port);

class ServerProcess {
public:
    struct Options {
        // Run as this user (its uid/gid; the data dir is chowned to it): servers
        // that refuse root (postgres, mariadb). "" = the test's own user.
        std::string run_as;
        // Ready when this returns true; default: the port accepts TCP.
        std::function<bool(const ServerProcess&)> ready;
        std::chrono::seconds ready_timeout{20};
    };
    // Every server must run in the foreground: the fixture owns the process.

    // argv[0] is the binary's absolute path. In every argument "{port}" becomes
    // port() and "{dir}" becomes dir(). Picks the port, creates the directory;
    // does not start.
    explicit ServerProcess(std::vector<std::string> argv);
    ServerProcess(std::vector<std::string> argv, Options options);
    ~ServerProcess();  // stops, removes the directory
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // "" when the binary (and the run_as user) exist; else why the test must skip,
    // naming the Debian package to install.
    std::string skip_reason(const std::string& package = "") const;

    // Writes `content` to dir()/`relative` (subdirectories created; "{port}" and
    // "{dir}" substituted): config files the argv points at.
    std::string write_file(const std::string& relative, const std::string& content) const;

    // Starts and waits until ready; false (see output()) if it exits or times out.
    bool start();
    // SIGTERM, then SIGKILL after 5 s; waits for the exit.
    void stop();
    bool running() const;

    uint16_t port() const { return port_; }
    const std::string& dir() const { return dir_; }
    std::string output() const;  // stdout+stderr of the current or last run
    pid_t pid() const;

    // "{port}" and "{dir}" replaced in `text`.
    std::string expand(std::string text) const;

private:
    std::vector<std::string> argv_;
    Options options_;
    uint16_t port_ = 0;
    std::string dir_;
    uid_t uid_ = static_cast<uid_t>(-1);
    std::unique_ptr<Subprocess> process_;
    std::string last_output_;
};

}  // namespace tracer::fixtures
