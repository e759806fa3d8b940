#include "api/metrics_server.h"

#include "forwarder/payload.h"
#include "metrics/prometheus_text.h"
#include "unique_fd.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace tracer::api {
namespace {

using Clock = std::chrono::steady_clock;

// What one client can take. A client that has not sent its whole request head
// within kRequestTimeout (however slowly it trickles), or that stops reading
// the answer for kStallTimeout, is disconnected; a request head over
// kMaxRequestHead bytes is answered 431 and the connection closed. At most
// kMaxConnections are open: a new one closes the oldest still sending its
// request, so slow clients can never keep a normal scrape out.
constexpr size_t kMaxRequestHead = 16 * 1024;
constexpr size_t kMaxConnections = 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr auto kStallTimeout = std::chrono::seconds(10);

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kIndexHtml =
    "<!doctype html>\n<html><head><title>tracer</title></head>\n"
    "<body><h1>tracer</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

std::string endpoint(const std::string& host, uint16_t port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string describe_errno(int err) {
    switch (err) {
    case EADDRINUSE:
        return "address already in use (is another tracer running? choose another with --metrics-addr)";
    case EACCES:
        return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another "
               "with --metrics-addr)";
    case EADDRNOTAVAIL:
        return "address not available (not an address of this machine? choose another with --metrics-addr)";
    default: {
        std::string s = std::strerror(err);
        if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
        return s;
    }
    }
}

using Fd = tracer::UniqueFd;

// Binds and listens on the first address of `host` that takes it (the
// SO_REUSEADDR socket of the usual server; no SO_REUSEPORT, so a second tracer
// fails instead of sharing the port). Throws the user-facing reason.
Fd listen_on(const std::string& host, uint16_t& port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* addrs = nullptr;
    const std::string where = "cannot serve /metrics on " + endpoint(host, port) + ": ";
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addrs);
    if (rc != 0)
        throw std::runtime_error(where + "cannot resolve host \"" + host +
                                 "\": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
    int first_err = 0;
    Fd bound;
    for (addrinfo* ai = addrs; ai && bound.get() < 0; ai = ai->ai_next) {
        Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
        int err = fd.get() < 0 ? errno : 0;
        if (fd.get() >= 0) {
            int yes = 1;
            setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd.get(), SOMAXCONN) != 0) err = errno;
        }
        if (err == 0) bound = std::move(fd);
        else if (first_err == 0) first_err = err;
    }
    freeaddrinfo(addrs);
    if (bound.get() < 0) throw std::runtime_error(where + (first_err ? describe_errno(first_err) : "bind failed"));
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(bound.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return bound;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// Does an Accept-Encoding value take gzip? ("gzip", "gzip, deflate"; not "gzip;q=0")
bool accepts_gzip(std::string_view v) {
    size_t at = 0;
    while ((at = v.find("gzip", at)) != std::string_view::npos) {
        std::string_view rest = v.substr(at + 4);
        size_t end = rest.find(',');
        std::string_view params = rest.substr(0, end);
        if (params.find("q=0") == std::string_view::npos || params.find("q=0.") != std::string_view::npos) return true;
        at += 4;
    }
    return false;
}

struct Request {
    std::string_view method, path;
    bool gzip = false;
};

// Parses a complete request head ("...\r\n\r\n"); false if it is not HTTP.
bool parse_request(std::string_view head, Request& r) {
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1 || !line.substr(sp2 + 1).starts_with("HTTP/")) return false;
    r.method = line.substr(0, sp1);
    r.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    r.path = r.path.substr(0, r.path.find('?'));
    for (std::string_view rest = head.substr(eol + 2); !rest.empty();) {
        size_t e = rest.find("\r\n");
        std::string_view h = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
        size_t colon = h.find(':');
        if (colon != std::string_view::npos && iequals(h.substr(0, colon), "accept-encoding"))
            r.gzip = accepts_gzip(h.substr(colon + 1));
    }
    return true;
}

struct Connection {
    Fd fd;
    Clock::time_point deadline;  // reading: the whole head; writing: the next progress
    bool writing = false;
    std::string in;
    std::string head;                             // the answer's status line and headers
    std::shared_ptr<const std::string> body;      // shared by every scrape of one snapshot
    size_t sent = 0;                              // of head + body
};

}  // namespace

struct MetricsServer::Impl {
    std::string host;
    uint16_t port;
    const metrics::LatestSnapshot& source;
    std::mutex lifecycle;  // serializes start() and stop()
    bool started = false;
    Fd listener, epoll, wake;
    std::thread thread;
    std::list<Connection> connections;  // oldest first

    // The rendered page of the last snapshot served, plain and gzipped (lazily).
    std::shared_ptr<const metrics::Snapshot> rendered_from;
    std::shared_ptr<const std::string> page, page_gzip;

    Impl(std::string h, uint16_t p, const metrics::LatestSnapshot& s) : host(std::move(h)), port(p), source(s) {}

    std::shared_ptr<const std::string> metrics_page(bool gzip) {
        std::shared_ptr<const metrics::Snapshot> snapshot = source.get();
        if (snapshot != rendered_from || !page) {
            auto text = std::make_shared<std::string>();
            metrics::render_prometheus_text(*snapshot, *text);
            page = std::move(text);
            page_gzip.reset();
            rendered_from = std::move(snapshot);
        }
        if (!gzip) return page;
        if (!page_gzip) page_gzip = std::make_shared<const std::string>(forwarder::gzip_compress(*page));
        return page_gzip;
    }

    void answer(Connection& c, int status, const char* reason, const char* content_type,
                std::shared_ptr<const std::string> body, bool head_only = false, bool gzip = false) {
        c.head = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + content_type +
                 "\r\nContent-Length: " + std::to_string(body ? body->size() : 0) + "\r\nConnection: close\r\n";
        if (gzip) c.head += "Content-Encoding: gzip\r\n";
        c.head += "\r\n";
        c.body = head_only ? nullptr : std::move(body);
        c.writing = true;
        c.sent = 0;
        c.in.clear();
        c.in.shrink_to_fit();
        c.deadline = Clock::now() + kStallTimeout;
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.ptr = &c;
        epoll_ctl(epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    }

    static std::shared_ptr<const std::string> text(const char* s) { return std::make_shared<const std::string>(s); }

    void route(Connection& c) {
        Request r;
        if (!parse_request(c.in, r)) {
            answer(c, 400, "Bad Request", "text/plain; charset=utf-8", text("400 bad request\n"));
            return;
        }
        const bool head_only = r.method == "HEAD";
        if (r.method != "GET" && !head_only) {
            answer(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", text("405 method not allowed\n"));
            return;
        }
        if (r.path == "/metrics")
            answer(c, 200, "OK", kMetricsContentType, metrics_page(r.gzip), head_only, r.gzip);
        else if (r.path == "/")
            answer(c, 200, "OK", "text/html; charset=utf-8", text(kIndexHtml), head_only);
        else if (r.path == "/healthz")
            answer(c, 200, "OK", "text/plain; charset=utf-8", text("ok"), head_only);
        else
            answer(c, 404, "Not Found", "text/plain; charset=utf-8", text("404 page not found\n"), head_only);
    }

    void close_connection(std::list<Connection>::iterator it) {
        epoll_ctl(epoll.get(), EPOLL_CTL_DEL, it->fd.get(), nullptr);
        connections.erase(it);
    }

    std::list<Connection>::iterator find(Connection* c) {
        for (auto it = connections.begin(); it != connections.end(); ++it)
            if (&*it == c) return it;
        return connections.end();
    }

    // Closes the oldest client still sending its request (else the oldest one).
    void make_room() {
        auto victim = std::find_if(connections.begin(), connections.end(), [](const Connection& c) { return !c.writing; });
        close_connection(victim != connections.end() ? victim : connections.begin());
    }

    void accept_all() {
        for (;;) {
            int fd = accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EMFILE && errno != ENFILE) return;  // EAGAIN: all taken
                // out of fds: make room, or let the backlog wait a moment rather than spin
                if (connections.empty()) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    return;
                }
                make_room();
                continue;
            }
            if (connections.size() >= kMaxConnections) make_room();
            Connection& c = connections.emplace_back();
            c.fd.reset(fd);
            c.deadline = Clock::now() + kRequestTimeout;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.ptr = &c;
            if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) connections.pop_back();
        }
    }

    // False when the connection is done with (closed by the peer, an error, answered).
    bool readable(Connection& c) {
        char buf[4096];
        for (;;) {
            ssize_t n = recv(c.fd.get(), buf, sizeof buf, 0);
            if (n == 0) return false;
            if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
            size_t scan_from = c.in.size() >= 3 ? c.in.size() - 3 : 0;
            c.in.append(buf, static_cast<size_t>(n));
            size_t end = c.in.find("\r\n\r\n", scan_from);
            if (end != std::string::npos) {
                c.in.resize(end + 4);
                route(c);
                return writable(c);
            }
            if (c.in.size() > kMaxRequestHead) {
                answer(c, 431, "Request Header Fields Too Large", "text/plain; charset=utf-8",
                       text("431 request head too large\n"));
                return writable(c);
            }
        }
    }

    bool writable(Connection& c) {
        const size_t body_size = c.body ? c.body->size() : 0;
        while (c.sent < c.head.size() + body_size) {
            const char* data;
            size_t left;
            if (c.sent < c.head.size()) {
                data = c.head.data() + c.sent;
                left = c.head.size() - c.sent;
            } else {
                data = c.body->data() + (c.sent - c.head.size());
                left = body_size - (c.sent - c.head.size());
            }
            ssize_t n = send(c.fd.get(), data, left, MSG_NOSIGNAL);
            if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;  // else EPIPE, reset...
            c.sent += static_cast<size_t>(n);
            c.deadline = Clock::now() + kStallTimeout;
        }
        shutdown(c.fd.get(), SHUT_WR);
        return false;
    }

    void serve() {
        epoll_event events[64];
        for (;;) {
            // deadlines are checked every 500 ms while a client is connected;
            // with none, sleep until one connects or stop() (no idle wake-ups)
            int n = epoll_wait(epoll.get(), events, 64, connections.empty() ? -1 : 500);
            if (n < 0 && errno != EINTR) return;
            for (int i = 0; i < n; ++i) {
                void* p = events[i].data.ptr;
                if (p == &wake) return;
                if (p == &listener) {
                    accept_all();
                    continue;
                }
                auto* c = static_cast<Connection*>(p);
                bool keep = (events[i].events & (EPOLLERR | EPOLLHUP)) == 0;
                if (keep) keep = c->writing ? writable(*c) : readable(*c);
                if (keep && !c->writing && (events[i].events & EPOLLRDHUP)) keep = false;  // hung up mid-request
                if (!keep) close_connection(find(c));
            }
            const auto now = Clock::now();
            for (auto it = connections.begin(); it != connections.end();) {
                auto next = std::next(it);
                if (now >= it->deadline) close_connection(it);
                it = next;
            }
        }
    }
};

MetricsServer::MetricsServer(std::string host, uint16_t port, const metrics::LatestSnapshot& source)
    : impl_(std::make_unique<Impl>(std::move(host), port, source)) {}

MetricsServer::~MetricsServer() { stop(); }

uint16_t MetricsServer::port() const { return impl_->port; }

void MetricsServer::start() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle);
    if (m.started) throw std::logic_error("MetricsServer::start() called twice");
    m.listener = listen_on(m.host, m.port);
    m.epoll = Fd(epoll_create1(EPOLL_CLOEXEC));
    m.wake = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (m.epoll.get() < 0 || m.wake.get() < 0)
        throw std::runtime_error("cannot serve /metrics on " + endpoint(m.host, m.port) + ": " +
                                 describe_errno(errno));
    for (Fd* fd : {&m.listener, &m.wake}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = fd;
        epoll_ctl(m.epoll.get(), EPOLL_CTL_ADD, fd->get(), &ev);
    }
    m.started = true;
    m.thread = std::thread([&m] { m.serve(); });
}

void MetricsServer::stop() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle);
    if (!m.thread.joinable()) return;
    uint64_t one = 1;
    if (write(m.wake.get(), &one, sizeof one) < 0) {}  // the loop wakes on it
    m.thread.join();
    m.connections.clear();
    m.listener.reset();
}

}  // namespace tracer::api
