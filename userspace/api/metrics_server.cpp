#include "api/metrics_server.h"

#include "metrics/prometheus_text.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace tracer::api {
namespace {

constexpr int kThreads = 4;
constexpr time_t kIoTimeoutSeconds = 5;
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

// httplib's bind reports only failure, so redo the bind ourselves (the same
// way: SO_REUSEADDR, every resolved address in turn) to learn why.
std::string why_bind_fails(const std::string& host, uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* addrs = nullptr;
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addrs);
    if (rc != 0) {
        return "cannot resolve host \"" + host +
               "\": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    }
    int first_err = 0;
    for (addrinfo* ai = addrs; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0) {
            int yes = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1) != 0) err = errno;
            close(fd);
        }
        if (err == 0) {  // bindable now: a race, or httplib's own failure
            first_err = 0;
            break;
        }
        if (first_err == 0) first_err = err;
    }
    freeaddrinfo(addrs);
    return first_err ? describe_errno(first_err) : "bind failed";
}

// Debian's httplib listens with a backlog of 5: a burst of concurrent scrapes
// overflows it and the dropped SYNs cost a client 1 s. Linux lets a second
// listen() on the bound socket raise the backlog.
class HttpServer : public httplib::Server {
public:
    void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }
};

}  // namespace

struct MetricsServer::Impl {
    std::string host;
    uint16_t port;
    const metrics::LatestSnapshot& source;
    HttpServer server;
    std::thread thread;
    std::atomic<bool> finished{false};
    std::mutex lifecycle;  // serializes start() and stop()
    bool started = false;

    Impl(std::string h, uint16_t p, const metrics::LatestSnapshot& s) : host(std::move(h)), port(p), source(s) {
        server.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };  // httplib owns it
        server.set_read_timeout(kIoTimeoutSeconds, 0);
        server.set_write_timeout(kIoTimeoutSeconds, 0);
        // stop() joins the workers, so what a connection can pin one for bounds
        // it. No keep-alive: an idle kept-alive connection would pin a worker
        // for the whole keep-alive timeout, and scrapes are seconds apart
        // anyway. A connected client that sends nothing pins one for 1 s; one
        // stalling mid-request or mid-response, for the 5 s I/O timeouts.
        server.set_keep_alive_max_count(1);
        server.set_keep_alive_timeout(1);
        // httplib's default adds SO_REUSEPORT, which would let a second tracer
        // share the port silently instead of failing to bind.
        server.set_socket_options([](socket_t fd) {
            int yes = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });

        server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            std::shared_ptr<const metrics::Snapshot> snapshot = source.get();
            metrics::render_prometheus_text(*snapshot, res.body);  // straight into the body: no copy
            res.set_header("Content-Type", kMetricsContentType);
        });
        server.Get("/", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(kIndexHtml, "text/html; charset=utf-8");
        });
        server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("ok", "text/plain; charset=utf-8");
        });
        server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
            if (res.status == 404) res.set_content("404 page not found\n", "text/plain; charset=utf-8");
        });
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

    bool bound;
    if (m.port == 0) {
        int port = m.server.bind_to_any_port(m.host);
        bound = port > 0;
        if (bound) m.port = static_cast<uint16_t>(port);
    } else {
        bound = m.server.bind_to_port(m.host, m.port);
    }
    if (!bound)
        throw std::runtime_error("cannot serve /metrics on " + endpoint(m.host, m.port) + ": " +
                                 why_bind_fails(m.host, m.port));
    m.server.widen_backlog();

    m.started = true;
    m.thread = std::thread([&m] {
        // A scraper hanging up while a send() is under way must give EPIPE,
        // not kill the agent; httplib's workers start below and inherit this.
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
        m.server.listen_after_bind();
        m.finished = true;
    });
    // httplib::Server::stop() is a no-op until the accept loop runs: wait for it.
    while (!m.server.is_running() && !m.finished) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

void MetricsServer::stop() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle);
    if (!m.thread.joinable()) return;
    m.server.stop();
    m.thread.join();
}

}  // namespace tracer::api
