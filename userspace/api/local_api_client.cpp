#include "api/local_api_client.h"

#include "unique_fd.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tracer::api {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until `deadline`; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, int(left));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

}  // namespace

nlohmann::json LocalApiClient::get(const std::string& target) const {
    const std::string where = "local API " + path_ + " " + target;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.empty() || path_.size() >= sizeof addr.sun_path) throw std::runtime_error(where + ": socket path too long");
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    UniqueFd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const int fd = socket_fd.get();
    if (fd < 0) throw std::runtime_error(where + ": socket: " + std::strerror(errno));
    auto deadline = Clock::now() + timeout_;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR)
            throw NoAgentError("no tracer agent answers at " + path_ + " (" + std::strerror(err) + ")");
        if (err == EACCES || err == EPERM)
            throw std::runtime_error(where + ": permission denied (the socket is 0600, owned by the agent's user: "
                                             "run as that user or root)");
        if (err != EAGAIN && err != EINPROGRESS) throw std::runtime_error(where + ": connect: " + std::strerror(err));
        if (!wait_for(fd, POLLOUT, deadline)) throw std::runtime_error(where + ": connect timed out");
    }
    std::string request = "GET " + target + " HTTP/1.0\r\nHost: tracer\r\n\r\n";
    size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += size_t(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLOUT, deadline)) throw std::runtime_error(where + ": timed out sending");
            continue;
        }
        throw std::runtime_error(where + ": send: " + std::strerror(errno));
    }
    std::string answer;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            answer.append(buf, size_t(n));
            continue;
        }
        if (n == 0) break;
        if (errno == EAGAIN || errno == EINTR) {
            if (!wait_for(fd, POLLIN, deadline)) throw std::runtime_error(where + ": timed out waiting for the answer");
            continue;
        }
        throw std::runtime_error(where + ": recv: " + std::strerror(errno));
    }
    auto head_end = answer.find("\r\n\r\n");
    if (head_end == std::string::npos || answer.compare(0, 5, "HTTP/") != 0)
        throw std::runtime_error(where + ": not an HTTP answer");
    auto sp = answer.find(' ');
    int code = std::atoi(answer.c_str() + sp + 1);
    std::string body = answer.substr(head_end + 4);
    if (code != 200) {
        std::string message = body;
        try {
            message = nlohmann::json::parse(body).value("error", body);
        } catch (const std::exception&) {
        }
        throw std::runtime_error(where + ": HTTP " + std::to_string(code) + ": " + message);
    }
    try {
        return nlohmann::json::parse(body);
    } catch (const std::exception& e) {
        throw std::runtime_error(where + ": bad JSON: " + e.what());
    }
}

}  // namespace tracer::api
