#include "statsd/statsd_server.h"

#include "unique_fd.h"

#include "config/agent_config.h"
#include "log.h"
#include "statsd/process_origin.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace tracer::statsd {
namespace {

constexpr size_t kDatagramBytes = 65536;  // the largest datagram taken whole
constexpr unsigned kBatch = 32;            // datagrams per recvmmsg
constexpr size_t kMaxTcpClients = 256;
constexpr size_t kBadSampleBytes = 200;
constexpr int kErrorCount = static_cast<int>(ParseError::Count);

enum class Transport { Udp, Uds, Tcp };
const char* transport_name(Transport t) {
    switch (t) {
        case Transport::Udp: return "udp";
        case Transport::Uds: return "uds";
        case Transport::Tcp: return "tcp";
    }
    return "?";
}

using Fd = tracer::UniqueFd;

std::runtime_error sys_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// Counts of one reader; added up across readers and intervals by the server.
struct ReaderStats {
    uint64_t packets = 0, bytes = 0, metrics = 0, events = 0, checks = 0, events_dropped = 0;
    std::array<uint64_t, kErrorCount> errors{};
    void add(const ReaderStats& o) {
        packets += o.packets, bytes += o.bytes, metrics += o.metrics, events += o.events, checks += o.checks;
        events_dropped += o.events_dropped;
        for (int i = 0; i < kErrorCount; ++i) errors[i] += o.errors[i];
    }
    uint64_t error_total() const {
        uint64_t n = 0;
        for (auto e : errors) n += e;
        return n;
    }
};

// What a reader hands over at a flush.
struct Handoff {
    std::vector<TakenContext> contexts;
    ReaderStats stats;
    std::vector<metrics::Event> events;
    std::vector<metrics::ServiceCheck> checks;
    std::string bad_line;
    ParseError bad_reason = ParseError::None;
    uint64_t socket_drops = 0;  // SO_MEMINFO drops: cumulative for this socket
    uint64_t refused = 0;       // cumulative
};

std::string labels_to_origin(const metrics::Labels& labels) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& l : labels) pairs.emplace_back(l.name, l.value);
    return serialize_origin(pairs);
}

std::string unescape_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<std::string> tag_list(std::string_view tags, std::string_view origin) {
    std::vector<std::string> out;
    TagIterator it(tags);
    std::string_view t;
    while (it.next(t)) out.emplace_back(t);
    // an origin is the last field of a context key: reuse its reader
    std::string key{kKeyField, '0', kKeyField, kKeyField};
    auto id = split_context_key(key.append(origin));
    for (auto& [n, v] : id.labels) out.push_back(n + ":" + v);
    return out;
}

}  // namespace

struct StatsdServer::Impl {
    // One listener thread: its socket(s) and its aggregator. The thread blocks
    // in the kernel until data or stop arrives (no timer: an idle agent does
    // not wake for it) and holds `mu` only while it takes in what it
    // received; a flush takes the reader's state under `mu` itself instead
    // of asking the thread for it, so it never waits for the socket.
    struct Reader {
        Reader(Impl& server, Transport t, Fd fd)
            : server(server), transport(t), fd(std::move(fd)), aggregator(server.options.max_contexts) {}
        Impl& server;
        Transport transport;
        Fd fd;
        std::mutex mu;  // guards everything below down to `thread`
        StatsdAggregator aggregator;
        ReaderStats stats;  // this interval
        std::vector<metrics::Event> events;
        std::vector<metrics::ServiceCheck> checks;
        std::string bad_line;
        ParseError bad_reason = ParseError::None;
        std::unordered_map<pid_t, std::string> pid_origin;  // cleared every interval
        std::unordered_map<std::string, std::string> container_origin;
        ParsedLine parsed;
        uint64_t live_total = 0;

        std::atomic<uint64_t> live_metrics{0};  // metric values taken since start, for received()
        std::jthread thread;

        // After taking in a batch (under mu): what received() reports.
        void publish() { live_metrics.store(live_total + stats.metrics, std::memory_order_relaxed); }

        // The interval's state into `out`, starting the next interval (under mu).
        void handoff(Handoff& out) {
            aggregator.take(out.contexts);
            out.stats = stats;
            live_total += stats.metrics;
            stats = ReaderStats{};
            out.events = std::move(events);
            out.checks = std::move(checks);
            events.clear();
            checks.clear();
            if (bad_reason != ParseError::None) {
                out.bad_line = bad_line;
                out.bad_reason = bad_reason;
                bad_reason = ParseError::None;
            }
            out.socket_drops = socket_drops_now();
            out.refused = aggregator.refused();
            pid_origin.clear();
            container_origin.clear();
        }

        // Wakes the thread out of its blocking receive (stop has been requested):
        // a socket shut for reading returns at once from recvmmsg and poll,
        // and stays so, so a stop requested just before the thread blocks is
        // not missed.
        void wake() { ::shutdown(fd.get(), SHUT_RD); }

        // The kernel's count of datagrams dropped on this socket (buffer
        // full), read once per interval (SO_MEMINFO) rather than per datagram.
        uint64_t socket_drops_now() const {
            uint32_t info[SK_MEMINFO_VARS] = {};
            socklen_t len = sizeof info;
            if (transport == Transport::Tcp || getsockopt(fd.get(), SOL_SOCKET, SO_MEMINFO, info, &len) != 0)
                return 0;
            return info[SK_MEMINFO_DROPS];
        }

        std::string_view origin_of_pid(pid_t pid) {
            if (pid <= 0 || !server.options.origin_from_socket) return {};
            auto it = pid_origin.find(pid);
            if (it == pid_origin.end()) it = pid_origin.emplace(pid, labels_to_origin(server.options.pid_labels(pid))).first;
            return it->second;
        }

        std::string_view origin_of_container(std::string_view id) {
            auto it = container_origin.find(std::string(id));
            if (it == container_origin.end())
                it = container_origin.emplace(std::string(id), labels_to_origin(server.options.container_labels(id))).first;
            return it->second;
        }

        void error(ParseError reason, std::string_view line) {
            ++stats.errors[static_cast<int>(reason)];
            if (bad_reason == ParseError::None) {
                bad_reason = reason;
                bad_line.assign(line.substr(0, kBadSampleBytes));
            }
        }

        // One datagram, or a TCP chunk of whole lines.
        void process(std::string_view data, std::string_view packet_origin, uint64_t now) {
            ++stats.packets;
            stats.bytes += data.size();
            for_each_line(data, [&](std::string_view line) {
                parse_line(line, parsed);
                switch (parsed.kind) {
                    case LineKind::Empty: break;
                    case LineKind::Error: error(parsed.error, line); break;
                    case LineKind::Metric: {
                        const ParsedMetric& m = parsed.metric;
                        std::string_view origin = packet_origin;
                        if (!m.container_id.empty() && server.options.origin_from_field)
                            origin = origin_of_container(m.container_id);
                        stats.metrics += aggregator.add(m, origin, now);
                        break;
                    }
                    case LineKind::Event: event(parsed.event, packet_origin); break;
                    case LineKind::ServiceCheck: check(parsed.check, packet_origin); break;
                }
            });
        }

        // Room for one more event or service check this interval? Sets its origin.
        bool admit(std::string_view container_id, std::string_view& origin) {
            if (events.size() + checks.size() >= server.options.max_events_per_interval) {
                ++stats.events_dropped;
                return false;
            }
            if (!container_id.empty() && server.options.origin_from_field) origin = origin_of_container(container_id);
            return true;
        }

        void event(const ParsedEvent& p, std::string_view origin) {
            ++stats.events;
            if (!admit(p.container_id, origin)) return;
            metrics::Event e;
            e.title = unescape_text(p.title);
            e.text = unescape_text(p.text);
            e.timestamp = p.timestamp ? p.timestamp : static_cast<int64_t>(std::time(nullptr));
            e.hostname = p.hostname;
            e.aggregation_key = p.aggregation_key;
            if (!p.priority.empty()) e.priority = p.priority;
            e.source_type = p.source_type;
            if (!p.alert_type.empty()) e.alert_type = p.alert_type;
            e.tags = tag_list(p.tags, origin);
            events.push_back(std::move(e));
        }

        void check(const ParsedServiceCheck& p, std::string_view origin) {
            ++stats.checks;
            if (!admit(p.container_id, origin)) return;
            metrics::ServiceCheck c;
            c.name = p.name;
            c.status = p.status;
            c.timestamp = p.timestamp ? p.timestamp : static_cast<int64_t>(std::time(nullptr));
            c.hostname = p.hostname;
            c.message = unescape_text(p.message);
            c.tags = tag_list(p.tags, origin);
            checks.push_back(std::move(c));
        }

        // UDP and Unix datagram sockets: recvmmsg batches until stopped.
        void run_datagrams(std::stop_token stop) {
            std::vector<char> buffers(size_t(kBatch) * kDatagramBytes);
            constexpr size_t kControl = CMSG_SPACE(sizeof(ucred));
            std::vector<char> control(size_t(kBatch) * kControl);
            std::array<mmsghdr, kBatch> msgs{};
            std::array<iovec, kBatch> iov{};
            while (!stop.stop_requested()) {
                for (unsigned i = 0; i < kBatch; ++i) {
                    iov[i] = {buffers.data() + size_t(i) * kDatagramBytes, kDatagramBytes};
                    msgs[i].msg_hdr = msghdr{};
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                    msgs[i].msg_hdr.msg_control = control.data() + size_t(i) * kControl;
                    msgs[i].msg_hdr.msg_controllen = kControl;
                }
                int n = recvmmsg(fd.get(), msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
                if (n > 0) {
                    uint64_t now = monotonic_ns();
                    std::lock_guard lock(mu);
                    for (int i = 0; i < n; ++i) {
                        // a socket shut by stop() reads as empty datagrams
                        if (msgs[i].msg_len == 0 && stop.stop_requested()) continue;
                        msghdr& h = msgs[i].msg_hdr;
                        pid_t pid = 0;
                        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
                            if (c->cmsg_level != SOL_SOCKET) continue;
                            if (c->cmsg_type == SCM_CREDENTIALS) {
                                ucred cred;
                                std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                                pid = cred.pid;
                            }
                        }
                        std::string_view data(static_cast<const char*>(iov[i].iov_base), msgs[i].msg_len);
                        if (h.msg_flags & MSG_TRUNC) {
                            ++stats.packets;
                            error(ParseError::Truncated, data.substr(0, kBadSampleBytes));
                            continue;
                        }
                        process(data, transport == Transport::Uds ? origin_of_pid(pid) : std::string_view{}, now);
                    }
                    publish();
                } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                           !stop.stop_requested()) {
                    // what it took in is still handed over at the next flush
                    LOG_ERROR("statsd: %s receive failed: %s; listener stopped", transport_name(transport),
                              std::strerror(errno));
                    return;
                }
            }
        }

        // TCP: newline-framed streams from up to kMaxTcpClients connections.
        void run_stream(std::stop_token stop) {
            struct Client {
                Fd fd;
                std::string pending;
                bool skipping = false;  // inside a line over the limit
            };
            std::vector<Client> clients;
            std::vector<pollfd> fds;
            std::vector<char> buf(kDatagramBytes);
            while (!stop.stop_requested()) {
                fds.assign(1, pollfd{fd.get(), POLLIN, 0});
                for (auto& c : clients) fds.push_back({c.fd.get(), POLLIN, 0});
                int ready = ::poll(fds.data(), fds.size(), -1);  // stop() shuts the listener: POLLHUP
                if (ready > 0) {
                    uint64_t now = monotonic_ns();
                    std::lock_guard lock(mu);
                    for (size_t i = 1; i < fds.size(); ++i) {
                        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                        Client& c = clients[i - 1];
                        ssize_t got = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
                        if (got <= 0) {
                            c.fd.reset();
                            continue;
                        }
                        std::string_view chunk(buf.data(), size_t(got));
                        while (!chunk.empty()) {
                            size_t nl = chunk.find('\n');
                            if (nl == std::string_view::npos) {
                                if (!c.skipping) c.pending.append(chunk);
                                if (c.pending.size() > kDatagramBytes) {
                                    error(ParseError::LineTooLong, c.pending);
                                    c.pending.clear();
                                    c.skipping = true;
                                }
                                break;
                            }
                            if (c.skipping) {
                                c.skipping = false;
                            } else if (c.pending.empty()) {
                                process(chunk.substr(0, nl), {}, now);
                            } else {
                                c.pending.append(chunk.substr(0, nl));
                                if (c.pending.size() > kDatagramBytes) error(ParseError::LineTooLong, c.pending);
                                else process(c.pending, {}, now);
                                c.pending.clear();
                            }
                            chunk.remove_prefix(nl + 1);
                        }
                    }
                    std::erase_if(clients, [](const Client& c) { return !c.fd; });
                    if (fds[0].revents & POLLIN) {
                        int client = ::accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
                        if (client >= 0 && clients.size() < kMaxTcpClients) clients.push_back({Fd(client), {}, false});
                        else if (client >= 0) ::close(client);
                    }
                    publish();
                }
            }
        }
    };

    explicit Impl(StatsdServerOptions o)
        : options(std::move(o)), store(options.max_contexts, options.percentiles) {
        if (!options.pid_labels) options.pid_labels = [](pid_t pid) { return cgroup_labels_of_pid(pid, "unified"); };
        if (!options.container_labels)
            options.container_labels = [](std::string_view id) {
                return metrics::Labels{{"container_id", std::string(id)}};
            };
    }

    // Sizes the receive buffer: SO_RCVBUFFORCE (CAP_NET_ADMIN) goes past
    // net.core.rmem_max; without it SO_RCVBUF is capped there, and we say so.
    void size_receive_buffer(int fd, const char* what) {
        int want = static_cast<int>(options.receive_buffer_bytes);
        if (want <= 0) return;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
        int got = 0;
        socklen_t len = sizeof got;
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);  // the kernel reports twice what it charges
        if (got / 2 < want && !warned_buffer) {
            warned_buffer = true;
            LOG_WARN("statsd: %s receive buffer is %d KiB, not the %d KiB asked (statsd.receive_buffer_bytes): "
                     "no CAP_NET_ADMIN, so net.core.rmem_max caps it; bursts may be dropped "
                     "(tracer_statsd_receive_drops_total). Raise net.core.rmem_max or grant CAP_NET_ADMIN.",
                     what, got / 2 / 1024, want / 1024);
        }
    }

    static sockaddr_storage resolve(const std::string& addr, const char* key, int socktype, socklen_t& len) {
        auto [host, port] = config::parse_host_port(addr, key);
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = socktype;
        hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
        addrinfo* res = nullptr;
        std::string service = std::to_string(port);
        if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0 || !res)
            throw std::runtime_error("cannot resolve '" + host + "': " + gai_strerror(rc));
        sockaddr_storage ss{};
        std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
        len = res->ai_addrlen;
        freeaddrinfo(res);
        return ss;
    }

    static uint16_t bound_port(int fd) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
        if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        return 0;
    }

    void open_udp() {
        socklen_t len = 0;
        sockaddr_storage addr = resolve(options.udp_listen, "statsd.listen", SOCK_DGRAM, len);
        uint32_t readers = std::max<uint32_t>(1, options.udp_readers);
        for (uint32_t i = 0; i < readers; ++i) {
            Fd fd(::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            if (!fd) throw sys_error("socket");
            int one = 1;
            setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
            size_receive_buffer(fd.get(), "UDP");
            if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
                throw sys_error("cannot listen on UDP " + options.udp_listen);
            if (i == 0) {  // port 0: the others join the port the first one got
                udp_port = bound_port(fd.get());
                if (addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(udp_port);
                else reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(udp_port);
            }
            readers_.push_back(std::make_unique<Reader>(*this, Transport::Udp, std::move(fd)));
        }
    }

    void open_uds() {
        const std::string& path = options.socket_path;
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path longer than 107 bytes: " + path);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        if (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
            std::string dir = path.substr(0, slash);
            for (size_t at = 1; at != std::string::npos; at = dir.find('/', at + 1)) ::mkdir(dir.substr(0, at).c_str(), 0755);
            ::mkdir(dir.c_str(), 0755);
        }
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + " exists and is not a socket");
            Fd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
                throw std::runtime_error(path + " is in use by another process");
            ::unlink(path.c_str());  // left over from a previous run
        }
        Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!fd) throw sys_error("socket");
        int one = 1;
        if (options.origin_from_socket) setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        size_receive_buffer(fd.get(), "Unix socket");
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw sys_error("cannot listen on " + path);
        ::chmod(path.c_str(), 0722);  // any local process may send
        uds_bound = true;
        readers_.push_back(std::make_unique<Reader>(*this, Transport::Uds, std::move(fd)));
    }

    void open_tcp() {
        socklen_t len = 0;
        sockaddr_storage addr = resolve(options.tcp_listen, "statsd.tcp_listen", SOCK_STREAM, len);
        Fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) throw sys_error("socket");
        int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd.get(), 128) != 0)
            throw sys_error("cannot listen on TCP " + options.tcp_listen);
        tcp_port = bound_port(fd.get());
        readers_.push_back(std::make_unique<Reader>(*this, Transport::Tcp, std::move(fd)));
    }

    size_t start() {
        auto attempt = [&](const char* what, auto&& open) {
            size_t before = readers_.size();
            try {
                open();
            } catch (const std::exception& e) {
                readers_.resize(before);
                errors.push_back(std::string("statsd ") + what + ": " + e.what());
                LOG_ERROR("%s; running without it", errors.back().c_str());
            }
        };
        if (!options.udp_listen.empty()) attempt("UDP listener", [&] { open_udp(); });
        if (!options.socket_path.empty()) attempt("Unix socket", [&] { open_uds(); });
        if (!options.tcp_listen.empty()) attempt("TCP listener", [&] { open_tcp(); });
        for (auto& r : readers_) {
            Reader* reader = r.get();
            if (reader->transport == Transport::Tcp)
                reader->thread = std::jthread([reader](std::stop_token s) { reader->run_stream(s); });
            else
                reader->thread = std::jthread([reader](std::stop_token s) { reader->run_datagrams(s); });
        }
        last_flush = std::chrono::steady_clock::now();
        return (udp_port ? 1 : 0) + (uds_bound ? 1 : 0) + (tcp_port ? 1 : 0);
    }

    void stop() {
        for (auto& r : readers_) {
            r->thread.request_stop();
            r->wake();
        }
        for (auto& r : readers_)
            if (r->thread.joinable()) r->thread.join();
        readers_.clear();
        if (uds_bound) ::unlink(options.socket_path.c_str());
        uds_bound = false;
    }

    StatsdFlush flush() {
        auto now = std::chrono::steady_clock::now();
        double interval = std::chrono::duration<double>(now - last_flush).count();
        last_flush = now;
        ReaderStats interval_stats;
        std::vector<metrics::Event> events;
        std::vector<metrics::ServiceCheck> checks;
        std::string bad_line;
        ParseError bad_reason = ParseError::None;
        std::array<uint64_t, 3> drops{};
        uint64_t refused = 0;
        for (auto& r : readers_) {
            Handoff h;
            {
                std::lock_guard lock(r->mu);  // held by the reader only while it takes in a batch
                r->handoff(h);
            }
            store.merge(std::move(h.contexts));
            interval_stats.add(h.stats);
            for (auto& e : h.events) events.push_back(std::move(e));
            for (auto& c : h.checks) checks.push_back(std::move(c));
            if (bad_reason == ParseError::None && h.bad_reason != ParseError::None) {
                bad_reason = h.bad_reason;
                bad_line = std::move(h.bad_line);
            }
            drops[static_cast<int>(r->transport)] += h.socket_drops;
            refused += h.refused;
            per_transport[static_cast<int>(r->transport)].add(h.stats);
        }
        totals.add(interval_stats);
        socket_drops = drops;
        reader_refused = refused;
        if (uint64_t bad = interval_stats.error_total())
            LOG_WARN("statsd: %llu malformed line(s) in the last %.0f s, e.g. (%s) '%s'",
                     static_cast<unsigned long long>(bad), interval, reason_name(bad_reason), bad_line.c_str());
        if (interval_stats.events_dropped)
            LOG_WARN("statsd: %llu event(s)/service check(s) dropped in the last %.0f s (more than %zu per interval)",
                     static_cast<unsigned long long>(interval_stats.events_dropped), interval,
                     options.max_events_per_interval);

        StatsdFlush out;
        store.flush(out);
        append_self_metrics(out.families);
        if (options.on_events && (!events.empty() || !checks.empty()))
            options.on_events(std::move(events), std::move(checks));
        return out;
    }

    void append_self_metrics(std::vector<metrics::Family>& out) const {
        using metrics::MetricType;
        auto per_transport_family = [&](const char* name, const char* help, auto value) {
            metrics::Family f{name, "", help, MetricType::Counter, {}};
            for (int t = 0; t < 3; ++t)
                f.samples.push_back({{{"transport", transport_name(Transport(t))}}, double(value(t)), {}});
            out.push_back(std::move(f));
        };
        per_transport_family("tracer.statsd.packets", "Datagrams (TCP: lines) received by the statsd server.",
                             [&](int t) { return per_transport[t].packets; });
        per_transport_family("tracer.statsd.metrics", "Metric lines aggregated by the statsd server.",
                             [&](int t) { return per_transport[t].metrics; });
        per_transport_family("tracer.statsd.receive.drops",
                             "Datagrams the kernel dropped because the statsd socket's receive buffer was full "
                             "(SO_MEMINFO; UDP only: Unix-socket senders wait instead).",
                             [&](int t) { return socket_drops[t]; });
        metrics::Family errs{"tracer.statsd.parse_errors", "", "Malformed statsd lines, by reason.",
                             MetricType::Counter, {}};
        for (int i = 1; i < kErrorCount; ++i)
            errs.samples.push_back({{{"reason", reason_name(ParseError(i))}}, double(totals.errors[i]), {}});
        out.push_back(std::move(errs));
        metrics::Family items{"tracer.statsd.events", "", "Events and service checks received.", MetricType::Counter, {}};
        items.samples.push_back({{{"kind", "event"}}, double(totals.events), {}});
        items.samples.push_back({{{"kind", "service_check"}}, double(totals.checks), {}});
        out.push_back(std::move(items));
        out.push_back({"tracer.statsd.events.dropped", "",
                       "Events and service checks dropped: more than the per-interval limit.", MetricType::Counter,
                       {{{}, double(totals.events_dropped), {}}}});
        out.push_back({"tracer.statsd.contexts", "", "Statsd contexts (name + tags) with series of their own.",
                       MetricType::Gauge, {{{}, double(store.contexts()), {}}}});
        out.push_back({"tracer.statsd.contexts.refused", "",
                       "Statsd samples not aggregated because statsd.max_contexts contexts already existed.",
                       MetricType::Counter, {{{}, double(store.refused() + reader_refused), {}}}});
    }

    StatsdServerOptions options;
    StatsdStore store;
    std::vector<std::unique_ptr<Reader>> readers_;
    std::vector<std::string> errors;
    uint16_t udp_port = 0, tcp_port = 0;
    bool uds_bound = false;
    bool warned_buffer = false;
    std::chrono::steady_clock::time_point last_flush = std::chrono::steady_clock::now();
    ReaderStats totals;
    std::array<ReaderStats, 3> per_transport{};
    std::array<uint64_t, 3> socket_drops{};
    uint64_t reader_refused = 0;
};

StatsdServer::StatsdServer(StatsdServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
StatsdServer::~StatsdServer() { stop(); }
size_t StatsdServer::start() { return impl_->start(); }
void StatsdServer::stop() { impl_->stop(); }
StatsdFlush StatsdServer::flush() { return impl_->flush(); }
uint16_t StatsdServer::udp_port() const { return impl_->udp_port; }
uint16_t StatsdServer::tcp_port() const { return impl_->tcp_port; }
bool StatsdServer::socket_listening() const { return impl_->uds_bound; }
const std::vector<std::string>& StatsdServer::errors() const { return impl_->errors; }
uint64_t StatsdServer::received() const {
    uint64_t n = 0;
    for (const auto& r : impl_->readers_) n += r->live_metrics.load(std::memory_order_relaxed);
    return n;
}

}  // namespace tracer::statsd
