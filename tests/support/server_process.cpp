#include "server_process.h"

#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace tracer::fixtures {

bool accepts_tcp(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

ServerProcess::ServerProcess(std::vector<std::string> argv) : ServerProcess(std::move(argv), Options{}) {}

ServerProcess::ServerProcess(std::vector<std::string> argv, Options options)
    : argv_(std::move(argv)), options_(std::move(options)), port_(free_tcp_port()) {
    char tmpl[] = "/tmp/tracer-server-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    if (!options_.run_as.empty()) {
        if (const passwd* pw = getpwnam(options_.run_as.c_str())) {
            uid_ = pw->pw_uid;
            std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
            if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
                throw std::runtime_error("chown " + dir_ + " to " + options_.run_as);
        }
    }
}

ServerProcess::~ServerProcess() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string ServerProcess::skip_reason(const std::string& package) const {
    std::string install = package.empty() ? "" : ": apt-get install " + package + " (scripts/install-deps.sh --test)";
    if (argv_.empty() || access(argv_[0].c_str(), X_OK) != 0)
        return (argv_.empty() ? std::string("no server binary") : argv_[0] + " is missing") + install;
    if (!options_.run_as.empty() && uid_ == static_cast<uid_t>(-1))
        return "no user '" + options_.run_as + "' to run " + argv_[0] + " as" + install;
    if (!options_.run_as.empty() && geteuid() != 0)
        return "needs root to run " + argv_[0] + " as " + options_.run_as;
    return "";
}

std::string ServerProcess::expand(std::string text) const {
    for (auto [key, value] : {std::pair<std::string, std::string>{"{port}", std::to_string(port_)}, {"{dir}", dir_}})
        for (size_t pos = 0; (pos = text.find(key, pos)) != std::string::npos; pos += value.size())
            text.replace(pos, key.size(), value);
    return text;
}

std::string ServerProcess::write_file(const std::string& relative, const std::string& content) const {
    std::filesystem::path path = std::filesystem::path(dir_) / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path);
    out << expand(content);
    if (!out) throw std::runtime_error("write " + path.string());
    out.close();
    if (uid_ != static_cast<uid_t>(-1)) {
        const passwd* pw = getpwuid(uid_);
        for (auto p = path; p != std::filesystem::path(dir_); p = p.parent_path())
            if (chown(p.c_str(), uid_, pw ? pw->pw_gid : static_cast<gid_t>(-1)) != 0)
                throw std::runtime_error("chown " + p.string());
    }
    return path.string();
}

bool ServerProcess::start() {
    if (process_) return true;
    std::vector<std::string> argv;
    for (const auto& a : argv_) argv.push_back(expand(a));
    process_ = std::make_unique<Subprocess>(argv, uid_);
    auto ready = options_.ready ? options_.ready : [](const ServerProcess& s) { return accepts_tcp(s.port()); };
    auto end = std::chrono::steady_clock::now() + options_.ready_timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (ready(*this)) return true;
        if (!process_->running()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    return false;
}

void ServerProcess::stop() {
    if (!process_) return;
    process_->signal(SIGTERM);
    if (process_->wait_for(std::chrono::seconds(5)) == -1) {
        process_->signal(SIGKILL);
        process_->wait_for(std::chrono::seconds(5));
    }
    last_output_ = process_->output();
    process_.reset();
}

bool ServerProcess::running() const { return process_ && process_->running(); }

pid_t ServerProcess::pid() const { return process_ ? process_->pid() : -1; }

std::string ServerProcess::output() const { return process_ ? process_->output() : last_output_; }

}  // namespace tracer::fixtures
