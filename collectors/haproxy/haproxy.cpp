#include "collectors/haproxy/haproxy.h"

#include "collectors/http_page.h"
#include "collectors/instance_keys.h"
#include "collectors/metric_table.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace tracer::collectors {
namespace {


// CSV column -> what it becomes under haproxy.<frontend|backend>.
constexpr MetricColumn kColumns[] = {
    {"qcur", "queue.current", kGauge, ""},
    {"scur", "session.current", kGauge, ""},
    {"slim", "session.limit", kGauge, ""},
    {"stot", "session.rate", kRate, ""},
    {"bin", "bytes.in_rate", kRate, "bytes"},
    {"bin", "bytes.in.total", kCount, "bytes"},
    {"bout", "bytes.out_rate", kRate, "bytes"},
    {"bout", "bytes.out.total", kCount, "bytes"},
    {"dreq", "denied.req_rate", kRate, ""},
    {"dresp", "denied.resp_rate", kRate, ""},
    {"ereq", "errors.req_rate", kRate, ""},
    {"econ", "errors.con_rate", kRate, ""},
    {"eresp", "errors.resp_rate", kRate, ""},
    {"wretr", "warnings.retr_rate", kRate, ""},
    {"wredis", "warnings.redis_rate", kRate, ""},
    {"lastchg", "uptime", kGauge, "seconds"},
    {"req_rate", "requests.rate", kGauge, ""},
    {"req_tot", "requests.tot_rate", kRate, ""},
    {"hrsp_1xx", "response.1xx", kRate, ""},
    {"hrsp_2xx", "response.2xx", kRate, ""},
    {"hrsp_3xx", "response.3xx", kRate, ""},
    {"hrsp_4xx", "response.4xx", kRate, ""},
    {"hrsp_5xx", "response.5xx", kRate, ""},
    {"hrsp_other", "response.other", kRate, ""},
    {"qtime", "queue.time", kGauge, "milliseconds"},
    {"ctime", "connect.time", kGauge, "milliseconds"},
    {"rtime", "response.time", kGauge, "milliseconds"},
    {"ttime", "session.time", kGauge, "milliseconds"},
    {"conn_rate", "connections.rate", kGauge, ""},
    {"conn_tot", "connections.tot_rate", kRate, ""},
    {"intercepted", "requests.intercepted", kRate, ""},
};

constexpr const char* kStatuses[] = {"up", "open", "down", "maint", "nolb"};

struct HaproxyOptions {
    std::string url;          // http(s)://... (the CSV page) or unix:///path, tcp://host:port (stats socket)
    std::string user, password;
    bool tls_verify = true;
    bool aggregates_only = true;
    bool status_metrics = false;
    bool service_check = false;  // haproxy.backend_up per backend and server
};

bool parse_number(const std::string& text, double& out) {
    if (text.empty()) return false;
    auto r = std::from_chars(text.data(), text.data() + text.size(), out);
    return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

// "UP 1/2" -> "up", "no check" -> "no_check".
std::string normalize_status(std::string status) {
    for (auto& c : status) c = c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* s : kStatuses)
        if (status.rfind(s, 0) == 0) return s;
    return status;
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

// `show stat` over the stats socket; the whole answer (haproxy closes after it).
std::string query_stats_socket(const std::string& url, std::chrono::steady_clock::time_point deadline) {
    auto fail = [&](const std::string& what) { throw std::runtime_error(url + ": " + what); };
    auto millis_left = [&] {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        return static_cast<int>(std::max<int64_t>(0, left.count()));
    };
    Fd sock;
    if (url.rfind("unix://", 0) == 0) {
        std::string path = url.substr(7);
        sockaddr_un a{};
        if (path.size() >= sizeof a.sun_path) fail("the socket path is too long");
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, path.c_str(), path.size());
        sock.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock.fd < 0 || connect(sock.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            fail(std::string("connect: ") + std::strerror(errno));
    } else {
        std::string hostport = url.substr(6);
        auto colon = hostport.rfind(':');
        if (colon == std::string::npos) fail("expected tcp://HOST:PORT");
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (int rc = getaddrinfo(hostport.substr(0, colon).c_str(), hostport.substr(colon + 1).c_str(), &hints, &found))
            fail(std::string("resolve: ") + gai_strerror(rc));
        std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
        sock.fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock.fd < 0) fail(std::string("socket: ") + std::strerror(errno));
        if (connect(sock.fd, found->ai_addr, found->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) fail(std::string("connect: ") + std::strerror(errno));
            pollfd p{sock.fd, POLLOUT, 0};
            if (poll(&p, 1, millis_left()) != 1) fail("connect: timed out");
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) fail(std::string("connect: ") + std::strerror(err));
        }
    }
    const std::string command = "show stat\n";
    if (send(sock.fd, command.data(), command.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(command.size()))
        fail(std::string("send: ") + std::strerror(errno));
    std::string answer;
    char buf[16384];
    for (;;) {
        pollfd p{sock.fd, POLLIN, 0};
        int ready = poll(&p, 1, millis_left());
        if (ready == 0) fail("no complete answer before the check's timeout");
        if (ready < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
        if (ready < 0) continue;
        ssize_t n = recv(sock.fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) fail(std::string("recv: ") + std::strerror(errno));
        if (n == 0) break;
        answer.append(buf, static_cast<size_t>(n));
        if (answer.size() > (64u << 20)) fail("the answer is larger than 64 MiB");
    }
    return answer;
}

class HaproxyCheck : public Check {
public:
    explicit HaproxyCheck(HaproxyOptions options) : options_(std::move(options)) {}

    void run(CheckRun& out) override {
        std::vector<HaproxyRow> rows;
        try {
            std::string text;
            if (options_.url.rfind("http", 0) == 0)
                text = fetch_status_page(http_, {.url = options_.url,
                      .username = options_.user, .password = options_.password,
                      .deadline = out.deadline(), .tls_verify = options_.tls_verify});
            else
                text = query_stats_socket(options_.url, out.deadline());
            rows = parse_haproxy_csv(text);
            if (rows.empty())
                throw std::runtime_error(options_.url + ": no statistics in the answer (is it haproxy's stats page or socket?)");
        } catch (const std::exception& e) {
            out.service_check("haproxy.can_connect", CheckStatus::Critical, e.what());
            throw;
        }
        std::map<std::pair<std::string, std::string>, int> statuses;      // (service, status) -> count
        std::map<std::pair<std::string, bool>, int> backend_hosts;        // (service, available) -> count
        for (const auto& row : rows) {
            std::map<std::string, std::string> f(row.begin(), row.end());
            const std::string& service = f["pxname"];
            const std::string& name = f["svname"];
            bool aggregate = name == "FRONTEND" || name == "BACKEND";
            std::string status = normalize_status(f["status"]);
            if (name != "BACKEND" && !f["status"].empty()) {
                statuses[{service, status}]++;
                if (!aggregate) {  // a server: available when up, unavailable when down, in maintenance or nolb
                    backend_hosts[{service, true}] += status == "up";
                    backend_hosts[{service, false}] += status == "down" || status == "maint" || status == "nolb";
                }
            }
            if (aggregate || !options_.aggregates_only) report_row(out, f, name == "FRONTEND" ? "frontend" : "backend", aggregate);
            if (options_.service_check) report_backend_up(out, f, status);
        }
        if (options_.status_metrics) {
            std::map<std::string, bool> services;
            for (const auto& [key, n] : statuses) services[key.first] = true;
            for (const auto& [service, _] : services)
                for (const char* s : kStatuses) statuses[{service, s}] += 0;  // every known status, 0 included
            for (const auto& [key, n] : statuses)
                out.gauge("haproxy.count_per_status", n, {{"haproxy_service", key.first}, {"status", key.second}});
            for (const auto& [key, n] : backend_hosts)
                out.gauge("haproxy.backend_hosts", n,
                          {{"haproxy_service", key.first}, {"available", key.second ? "true" : "false"}});
        }
        out.service_check("haproxy.can_connect", CheckStatus::Ok);
    }

private:
    // Datadog's haproxy.backend_up, for every row whose status it maps: up and
    // maint OK, down CRITICAL, no check UNKNOWN. Only a backend's rows have
    // those (frontends and their listeners are OPEN): tagged with the service
    // and the server, `BACKEND` for the backend itself.
    static void report_backend_up(CheckRun& out, const std::map<std::string, std::string>& f,
                                  const std::string& status) {
        CheckStatus s;
        if (status == "up" || status == "maint")
            s = CheckStatus::Ok;
        else if (status == "down")
            s = CheckStatus::Critical;
        else if (status == "no_check")
            s = CheckStatus::Unknown;
        else
            return;
        const std::string& service = f.at("pxname");
        const std::string& server = f.at("svname");
        std::string message;
        if (s != CheckStatus::Ok)
            message = "haproxy reported " + service + ":" + server + " " +
                      (s == CheckStatus::Critical ? "DOWN" : "UNKNOWN (no check)");
        out.service_check("haproxy.backend_up", s, message, {{"haproxy_service", service}, {"backend", server}});
    }

    void report_row(CheckRun& out, const std::map<std::string, std::string>& f, const std::string& side,
                    bool aggregate) const {
        metrics::Labels labels{{"haproxy_service", f.at("pxname")}};
        if (!aggregate) labels.push_back({"backend", f.at("svname")});
        for (const auto& c : kColumns) {
            auto it = f.find(c.source);
            double v = 0;
            if (it == f.end() || !parse_number(it->second, v)) continue;
            report_metric(out, c.kind, "haproxy." + side + "." + c.metric, v, labels, c.unit);
        }
        double scur = 0, slim = 0;
        auto s = f.find("scur"), l = f.find("slim");
        if (s != f.end() && l != f.end() && parse_number(s->second, scur) && parse_number(l->second, slim) && slim > 0)
            out.gauge("haproxy." + side + ".session.pct", scur / slim * 100, labels, "percent");
    }

    HaproxyOptions options_;
    HttpClient http_;  // the stats page's connection, kept between runs
};

std::unique_ptr<Check> make_haproxy_check(const InstanceConfig& config) {
    HaproxyOptions o;
    o.url = required_string_key(config, "url");
    bool http = o.url.rfind("http://", 0) == 0 || o.url.rfind("https://", 0) == 0;
    if (!http && o.url.rfind("unix://", 0) != 0 && o.url.rfind("tcp://", 0) != 0)
        throw instance_error(config,
                             "'url' must be the stats page (http:// or https://) or the stats socket "
                             "(unix:///PATH or tcp://HOST:PORT)",
                             instance_value(config, "url"));
    if (http && o.url.find(";csv") == std::string::npos) o.url += ";csv;norefresh";
    o.user = string_key(config, "username", "");
    o.password = secret_key(config);
    o.tls_verify = bool_key(config, "tls_verify", true);
    o.aggregates_only = bool_key(config, "collect_aggregates_only", true);
    o.status_metrics = bool_key(config, "collect_status_metrics", false);
    o.service_check = bool_key(config, "enable_service_check", false);
    return std::make_unique<HaproxyCheck>(std::move(o));
}

}  // namespace

std::vector<HaproxyRow> parse_haproxy_csv(const std::string& text) {
    std::vector<HaproxyRow> rows;
    std::vector<std::string> header;
    std::istringstream lines(text);
    std::string line;
    auto split = [](const std::string& s) {
        std::vector<std::string> out;
        std::string cell;
        std::istringstream in(s);
        while (std::getline(in, cell, ',')) out.push_back(cell);
        if (!s.empty() && s.back() == ',') out.push_back("");
        return out;
    };
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (line.rfind("# ", 0) == 0) {
            header = split(line.substr(2));
            continue;
        }
        if (header.empty()) continue;
        auto cells = split(line);
        HaproxyRow row;
        for (size_t i = 0; i < cells.size() && i < header.size(); ++i)
            if (!header[i].empty()) row.emplace_back(header[i], cells[i]);
        if (row.size() >= 2) rows.push_back(std::move(row));
    }
    return rows;
}

PluginInfo haproxy_plugin() {
    return {"haproxy", "HAProxy frontends, backends and servers from the stats page (CSV) or the stats socket",
            make_haproxy_check,
            {"url", "username", "password", "password_env", "password_file", "tls_verify", "collect_aggregates_only",
             "collect_status_metrics", "enable_service_check"}};
}

}  // namespace tracer::collectors
