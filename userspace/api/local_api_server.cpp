#include "api/local_api_server.h"

#include "api/snapshot_json.h"
#include "unique_fd.h"
#include "tracer_version.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace tracer::api {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kDefaultEventLimit = 1000;

int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
int64_t monotonic_ms(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

using Fd = UniqueFd;

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
    throw std::runtime_error("local API socket " + path + ": " + what + ": " + std::strerror(err) +
                             " (set api_socket to another path, or \"\" to turn the API off)");
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("local API socket '" + path + "': the path must be 1.." +
                                 std::to_string(sizeof addr.sun_path - 1) + " bytes long");
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// Something already answers at `path` (a running agent): connecting succeeds.
bool answering(const sockaddr_un& addr) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return fd.get() >= 0 && ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

void make_parent_directory(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return;
    std::string dir = path.substr(0, slash);
    struct stat st{};
    if (::stat(dir.c_str(), &st) == 0) return;
    make_parent_directory(dir);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(path, "cannot create " + dir, errno);
}

struct Connection {
    Fd fd;
    std::string request;
    std::string head;                          // status line and headers
    std::shared_ptr<const std::string> body;  // shared by clients asking for the same snapshot
    size_t sent = 0;                           // of head + body
    bool answering = false;
    Clock::time_point deadline;
};

std::string http_head(int code, const char* reason, size_t length) {
    return "HTTP/1.0 " + std::to_string(code) + " " + reason +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(length) +
           "\r\nConnection: close\r\n\r\n";
}

std::shared_ptr<const std::string> error_body(const std::string& message) {
    return std::make_shared<const std::string>(json{{"error", message}}.dump() + "\n");
}

// "a=1&b=2" -> value of `key` as a number, or `fallback`.
uint64_t query_number(std::string_view query, std::string_view key, uint64_t fallback) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto part = query.substr(0, amp);
        auto eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == key) {
            uint64_t v = 0;
            auto value = part.substr(eq + 1);
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec == std::errc() && end == value.data() + value.size()) return v;
            return fallback;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return fallback;
}

std::string label_of(const metrics::Sample& s, std::string_view name) {
    for (const auto& l : s.labels)
        if (l.name == name) return l.value;
    return {};
}

// The drop and map-full counters, and each sink's queue and spool, from the
// self-metrics of the latest snapshot.
json counters_of(const metrics::Snapshot& snap) {
    json out = {{"map_update_failures", json::object()},
                {"events_dropped", json::object()},
                {"runs_skipped", json::object()},
                {"sinks", json::object()},
                {"statsd", json::object()}};
    for (const auto& f : snap) {
        auto by = [&](const char* section, const char* label) {
            for (const auto& s : f.samples) out[section][label_of(s, label)] = s.value;
        };
        if (f.name == "tracer.bpf.map_update_failures") by("map_update_failures", "map");
        else if (f.name == "tracer.events.dropped") by("events_dropped", "ring");
        else if (f.name == "tracer.bpf.runs_skipped") by("runs_skipped", "program");
        else if (f.name == "tracer.net.unattributed" && !f.samples.empty())
            out["net_unattributed"] = f.samples[0].value;
        else if (f.name.rfind("tracer.forwarder.", 0) == 0) {
            std::string what = f.name.substr(std::strlen("tracer.forwarder."));
            for (const auto& s : f.samples) {
                auto& sink = out["sinks"][label_of(s, "sink")];
                std::string reason = label_of(s, "reason");
                if (reason.empty())
                    sink[what] = s.value;
                else
                    sink[what][reason] = s.value;
            }
        } else if (f.name.rfind("tracer.statsd.", 0) == 0 && f.samples.size() == 1 && f.samples[0].labels.empty())
            out["statsd"][f.name.substr(std::strlen("tracer.statsd."))] = f.samples[0].value;
    }
    return out;
}

}  // namespace

struct LocalApiServer::Impl {
    LocalApiOptions opt;
    Fd listener;
    Fd wake;  // eventfd: stop()
    std::thread thread;
    bool started = false;
    Clock::time_point started_at = Clock::now();
    int64_t started_unix_ms = unix_ms_now();

    std::mutex mu;  // the publication stamp
    uint64_t sequence = 0;
    int64_t published_unix_ms = 0;
    int64_t published_monotonic_ms = 0;

    // The rendered /v1/snapshot of one sequence (server thread only).
    uint64_t cached_sequence = ~0ull;
    const metrics::Snapshot* cached_snapshot = nullptr;
    std::shared_ptr<const std::string> cached_body;

    std::vector<Connection> connections;

    explicit Impl(LocalApiOptions o) : opt(std::move(o)) {}

    std::shared_ptr<const std::string> snapshot_body() {
        auto snap = opt.snapshot ? opt.snapshot->get() : std::make_shared<const metrics::Snapshot>();
        uint64_t seq;
        int64_t unix_ms, mono_ms;
        {
            std::lock_guard lock(mu);
            seq = sequence;
            unix_ms = published_unix_ms;
            mono_ms = published_monotonic_ms;
        }
        if (cached_body && cached_sequence == seq && cached_snapshot == snap.get()) return cached_body;
        json j = {{"api_version", kLocalApiVersion},
                  {"sequence", seq},
                  {"published_unix_ms", unix_ms},
                  {"published_monotonic_ms", mono_ms},
                  {"interval_seconds", opt.interval_seconds},
                  {"families", snapshot_to_json(*snap)}};
        cached_body = std::make_shared<const std::string>(j.dump() + "\n");
        cached_sequence = seq;
        cached_snapshot = snap.get();
        return cached_body;
    }

    std::shared_ptr<const std::string> events_body(std::string_view query) {
        uint64_t since = query_number(query, "since", 0);
        size_t limit = size_t(query_number(query, "limit", kDefaultEventLimit));
        json j = {{"api_version", kLocalApiVersion}};
        if (opt.events) {
            auto page = opt.events->since(since, limit);
            j["events"] = std::move(page.events);
            j["next"] = page.next;
            j["evicted"] = page.evicted;
        } else {
            j["events"] = json::array();
            j["next"] = 1;
            j["evicted"] = 0;
        }
        return std::make_shared<const std::string>(j.dump() + "\n");
    }

    std::shared_ptr<const std::string> status_body() {
        json j = {{"api_version", kLocalApiVersion},
                  {"version", TRACER_VERSION},
                  {"pid", ::getpid()},
                  {"started_unix_ms", started_unix_ms},
                  {"uptime_seconds", std::chrono::duration<double>(Clock::now() - started_at).count()},
                  {"interval_seconds", opt.interval_seconds}};
        {
            std::lock_guard lock(mu);
            j["snapshots_published"] = sequence;
            j["last_published_unix_ms"] = published_unix_ms;
        }
        if (opt.agent_info) {
            json info = opt.agent_info();
            if (info.is_object())
                for (auto& [k, v] : info.items()) j[k] = v;
        }
        json sources = json::array();
        bool healthy = true;
        if (opt.sources)
            for (const auto& s : opt.sources()) {
                healthy = healthy && s.up;
                sources.push_back({{"source", s.source}, {"name", s.name}, {"up", s.up}, {"detail", s.detail}});
            }
        j["sources"] = std::move(sources);
        j["healthy"] = healthy;
        auto snap = opt.snapshot ? opt.snapshot->get() : nullptr;
        j["counters"] = counters_of(snap ? *snap : metrics::Snapshot{});
        return std::make_shared<const std::string>(j.dump() + "\n");
    }

    // Builds the answer once the request head is complete.
    void answer(Connection& c) {
        c.answering = true;
        auto line_end = c.request.find("\r\n");
        std::string line = c.request.substr(0, line_end);
        auto sp1 = line.find(' ');
        auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
        if (sp1 == std::string::npos || sp2 == std::string::npos) {
            c.body = error_body("malformed request line");
            c.head = http_head(400, "Bad Request", c.body->size());
            return;
        }
        std::string method = line.substr(0, sp1);
        std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        auto q = target.find('?');
        std::string path = target.substr(0, q);
        std::string_view query = q == std::string::npos ? std::string_view{} : std::string_view(target).substr(q + 1);
        if (method != "GET" && method != "HEAD") {
            c.body = error_body("the local API is read-only: GET only");
            c.head = http_head(405, "Method Not Allowed", c.body->size());
            return;
        }
        if (path == "/v1/snapshot")
            c.body = snapshot_body();
        else if (path == "/v1/events")
            c.body = events_body(query);
        else if (path == "/v1/status")
            c.body = status_body();
        else if (path == "/v1" || path == "/v1/" || path == "/") {
            c.body = std::make_shared<const std::string>(
                json{{"api_version", kLocalApiVersion}, {"paths", {"/v1/snapshot", "/v1/events", "/v1/status"}}}.dump() +
                "\n");
        } else {
            c.body = error_body("no such path: " + path + " (this agent serves /v1/snapshot, /v1/events, /v1/status)");
            c.head = http_head(404, "Not Found", c.body->size());
            return;
        }
        c.head = http_head(200, "OK", c.body->size());
        if (method == "HEAD") c.body = std::make_shared<const std::string>();
    }

    // Reads what is there; false when the connection is finished.
    bool on_readable(Connection& c) {
        char buf[2048];
        for (;;) {
            ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
            if (n > 0) {
                c.request.append(buf, size_t(n));
                if (c.request.size() > kMaxRequestBytes) {
                    c.body = error_body("request too large");
                    c.head = http_head(431, "Request Header Fields Too Large", c.body->size());
                    c.answering = true;
                    return true;
                }
                if (c.request.find("\r\n\r\n") != std::string::npos || c.request.find("\n\n") != std::string::npos) {
                    answer(c);
                    return true;
                }
                continue;
            }
            if (n == 0) return false;  // closed before asking
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
    }

    // Writes what the socket takes; false when done or broken.
    bool on_writable(Connection& c) {
        size_t total = c.head.size() + c.body->size();
        while (c.sent < total) {
            const char* data;
            size_t len;
            if (c.sent < c.head.size()) {
                data = c.head.data() + c.sent;
                len = c.head.size() - c.sent;
            } else {
                data = c.body->data() + (c.sent - c.head.size());
                len = total - c.sent;
            }
            ssize_t n = ::send(c.fd.get(), data, len, MSG_NOSIGNAL);
            if (n > 0) {
                c.sent += size_t(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
            return false;
        }
        return false;
    }

    void accept_all() {
        for (;;) {
            int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN, or a transient error: poll again
            Connection c;
            c.fd = Fd(fd);
            c.deadline = Clock::now() + opt.client_timeout;
            if (connections.size() >= opt.max_connections) {
                c.body = error_body("too many clients of the local API; retry");
                c.head = http_head(503, "Service Unavailable", c.body->size());
                on_writable(c);  // best effort, never waits
                continue;
            }
            connections.push_back(std::move(c));
        }
    }

    void serve() {
        std::vector<pollfd> fds;
        for (;;) {
            fds.clear();
            fds.push_back({wake.get(), POLLIN, 0});
            fds.push_back({listener.get(), POLLIN, 0});
            auto now = Clock::now();
            auto next_deadline = Clock::time_point::max();
            for (const auto& c : connections) {
                fds.push_back({c.fd.get(), short(c.answering ? POLLOUT : POLLIN), 0});
                next_deadline = std::min(next_deadline, c.deadline);
            }
            // no client: sleep until one connects or stop() (no idle wake-ups)
            int timeout = connections.empty()
                              ? -1
                              : int(std::clamp<int64_t>(
                                    std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now).count() + 1,
                                    0, 1000));
            int n = ::poll(fds.data(), fds.size(), timeout);
            if (n < 0 && errno != EINTR) return;
            if (fds[0].revents) return;  // stop()
            std::vector<Connection> kept;
            kept.reserve(connections.size());
            now = Clock::now();
            for (size_t i = 0; i < connections.size(); ++i) {
                auto& c = connections[i];
                short ev = fds[i + 2].revents;
                bool alive = true;
                if (ev & (POLLERR | POLLNVAL)) alive = false;
                else if (!c.answering && (ev & (POLLIN | POLLHUP))) alive = on_readable(c);
                if (alive && c.answering && (ev & POLLOUT || !(ev & POLLHUP))) alive = on_writable(c);
                if (alive && now >= c.deadline) alive = false;  // too slow: its answer is abandoned
                if (alive) kept.push_back(std::move(c));
            }
            connections = std::move(kept);
            if (fds[1].revents & POLLIN) accept_all();
        }
    }
};

LocalApiServer::LocalApiServer(LocalApiOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

LocalApiServer::~LocalApiServer() {
    stop();
}

void LocalApiServer::start() {
    auto& m = *impl_;
    if (m.started) throw std::logic_error("LocalApiServer::start called twice");
    const std::string& path = m.opt.socket_path;
    sockaddr_un addr = address_of(path);
    make_parent_directory(path);
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error("local API socket " + path + ": exists and is not a socket; not replacing it");
        if (answering(addr))
            throw std::runtime_error("local API socket " + path +
                                     ": another tracer agent answers there (stop it, or set api_socket to another path)");
        ::unlink(path.c_str());  // left behind by an agent that did not exit cleanly
    }
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) fail(path, "socket", errno);
    // Created 0600 from the start (no window with wider permissions), then
    // chmod-ed in case the umask was stricter in some odd way.
    mode_t old = ::umask(0177);
    int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    int err = errno;
    ::umask(old);
    if (rc != 0) fail(path, "cannot bind", err);
    if (::chmod(path.c_str(), 0600) != 0) fail(path, "cannot chmod 0600", errno);
    if (::listen(fd.get(), 64) != 0) fail(path, "cannot listen", errno);
    m.wake = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (m.wake.get() < 0) fail(path, "eventfd", errno);
    m.listener = std::move(fd);
    m.started = true;
    m.thread = std::thread([&m] { m.serve(); });
}

void LocalApiServer::stop() {
    auto& m = *impl_;
    if (!m.thread.joinable()) return;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(m.wake.get(), &one, sizeof one);
    m.thread.join();
    m.connections.clear();
    m.listener.reset();
    ::unlink(m.opt.socket_path.c_str());
}

void LocalApiServer::published() {
    auto& m = *impl_;
    std::lock_guard lock(m.mu);
    ++m.sequence;
    m.published_unix_ms = unix_ms_now();
    m.published_monotonic_ms = monotonic_ms(Clock::now());
}

}  // namespace tracer::api
