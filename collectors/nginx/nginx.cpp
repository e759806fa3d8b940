// nginx: the stub_status page. Metric names follow the Datadog nginx integration.
#include "collectors/nginx/nginx.h"

#include "collectors/http_fetch.h"
#include "collectors/instance_keys.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace tracer::collectors {
namespace {

// One part of `url` by libcurl's parser (user info, IPv6 brackets); "" when absent or unparsable.
std::string url_part(const std::string& url, CURLUPart part) {
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
    char* value = nullptr;
    if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
        curl_url_get(u.get(), part, &value, 0) != CURLUE_OK)
        return "";
    std::string out = value;
    curl_free(value);
    return out;
}

class NginxCheck : public Check {
public:
    explicit NginxCheck(const InstanceConfig& cfg)
        : url_(required_string_key(cfg, "nginx_status_url")),
          username_(string_key(cfg, "username")),
          password_(secret_key(cfg, "password")),
          tls_verify_(bool_key(cfg, "tls_verify", true)) {
        // the host (an IPv6 one without its brackets) and the port when the URL names one
        if (auto host = url_part(url_, CURLUPART_HOST); !host.empty()) {
            if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
            tags_.push_back({"nginx_host", host});
            if (auto port = url_part(url_, CURLUPART_PORT); !port.empty()) tags_.push_back({"port", port});
        }
    }

    void run(CheckRun& out) override {
        HttpRequest req;
        req.url = url_;
        req.username = username_;
        req.password = password_;
        req.deadline = out.deadline();
        req.tls_verify = tls_verify_;
        auto res = http_.fetch(req);
        if (res.status != 200)
            throw std::runtime_error(url_ + ": HTTP " + std::to_string(res.status) + " (is stub_status on at this location?)");
        // Active connections: 2
        // server accepts handled requests
        //  10 10 25
        // Reading: 0 Writing: 1 Waiting: 1
        double active = 0, accepts = 0, handled = 0, requests = 0, reading = 0, writing = 0, waiting = 0;
        const char* s = res.body.c_str();
        const char* stats = std::strstr(s, "requests");
        if (std::sscanf(s, "Active connections: %lf", &active) != 1 || !stats ||
            std::sscanf(stats + 8, "%lf %lf %lf", &accepts, &handled, &requests) != 3 || !std::strstr(s, "Reading:") ||
            std::sscanf(std::strstr(s, "Reading:"), "Reading: %lf Writing: %lf Waiting: %lf", &reading, &writing,
                        &waiting) != 3)
            throw std::runtime_error(url_ + ": not an nginx stub_status page");
        out.gauge("nginx.net.connections", active, tags_);
        out.gauge("nginx.net.reading", reading, tags_);
        out.gauge("nginx.net.writing", writing, tags_);
        out.gauge("nginx.net.waiting", waiting, tags_);
        out.rate("nginx.net.request_per_s", requests, tags_);
        out.rate("nginx.net.conn_opened_per_s", accepts, tags_);
        out.rate("nginx.net.conn_dropped_per_s", accepts - handled, tags_);
        out.monotonic_count("nginx.requests.total_count", requests, tags_);
        out.monotonic_count("nginx.connections.accepted_count", accepts, tags_);
        out.monotonic_count("nginx.connections.dropped_count", accepts - handled, tags_);
        out.service_check("nginx.can_connect", CheckStatus::Ok);
    }

private:
    std::string url_, username_, password_;
    bool tls_verify_;
    metrics::Labels tags_;
    HttpClient http_;  // the stub_status connection, kept between runs
};

}  // namespace

PluginInfo nginx_plugin() {
    return {"nginx", "nginx: connections and requests from the stub_status page",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<NginxCheck>(cfg); },
            {"nginx_status_url", "username", "password", "tls_verify"}};
}

}  // namespace tracer::collectors
