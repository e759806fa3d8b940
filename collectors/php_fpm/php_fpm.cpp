#include "collectors/php_fpm/php_fpm.h"

#include "collectors/http_page.h"
#include "collectors/instance_keys.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>

namespace tracer::collectors {
namespace {

struct PhpFpmOptions {
    std::string status_url;  // "" = none; with the JSON query added
    std::string ping_url;    // "" = none
    std::string ping_reply = "pong";
    std::string user, password;
    bool tls_verify = true;
};

struct Field {
    const char* key;
    const char* metric;
    bool cumulative;  // a monotonic count, else a gauge
};
constexpr Field kFields[] = {
    {"listen queue", "php_fpm.listen_queue.size", false},
    {"idle processes", "php_fpm.processes.idle", false},
    {"active processes", "php_fpm.processes.active", false},
    {"total processes", "php_fpm.processes.total", false},
    {"accepted conn", "php_fpm.requests.accepted", true},
    {"max children reached", "php_fpm.processes.max_reached", true},
    {"slow requests", "php_fpm.requests.slow", true},
};

class PhpFpmCheck : public Check {
public:
    explicit PhpFpmCheck(PhpFpmOptions options) : options_(std::move(options)) {}

    void run(CheckRun& out) override {
        std::optional<std::string> ping_error;
        if (!options_.ping_url.empty()) {
            ping_error = ping(out);
            out.service_check("php_fpm.can_ping", ping_error->empty() ? CheckStatus::Ok : CheckStatus::Critical,
                              *ping_error);
        }
        if (options_.status_url.empty()) {  // ping only: it decides whether the pool is reachable
            out.service_check("php_fpm.can_connect", ping_error->empty() ? CheckStatus::Ok : CheckStatus::Critical,
                              *ping_error);
            if (!ping_error->empty()) throw std::runtime_error(*ping_error);
            return;
        }
        nlohmann::json status;
        try {
            auto body = fetch_status_page(http_, {.url = options_.status_url,
                  .username = options_.user, .password = options_.password,
                  .deadline = out.deadline(), .tls_verify = options_.tls_verify});
            status = nlohmann::json::parse(body, nullptr, false);
            if (!status.is_object() || !status.contains("accepted conn"))
                throw std::runtime_error(options_.status_url +
                                         ": not a PHP-FPM status page in JSON (is the URL pm.status_path, proxied to the pool?)");
        } catch (const std::exception& e) {
            out.service_check("php_fpm.can_connect", CheckStatus::Critical, e.what());
            throw;
        }
        metrics::Labels labels;
        if (status.contains("pool") && status["pool"].is_string()) labels.push_back({"pool", status["pool"].get<std::string>()});
        for (const auto& f : kFields) {
            auto it = status.find(f.key);
            if (it == status.end() || !it->is_number()) continue;
            double v = it->get<double>();
            if (f.cumulative) out.monotonic_count(f.metric, v, labels);
            else out.gauge(f.metric, v, labels);
        }
        out.service_check("php_fpm.can_connect", CheckStatus::Ok);
    }

private:
    // "" when the ping page answered with the expected reply; else why not.
    std::string ping(CheckRun& out) {
        try {
            auto body = fetch_status_page(http_, {.url = options_.ping_url,
                  .username = options_.user, .password = options_.password,
                  .deadline = out.deadline(), .tls_verify = options_.tls_verify});
            if (body.find(options_.ping_reply) == std::string::npos)
                return options_.ping_url + ": the reply is not '" + options_.ping_reply + "' but '" +
                       body.substr(0, 100) + "'";
            return "";
        } catch (const std::exception& e) {
            return e.what();
        }
    }

    PhpFpmOptions options_;
    HttpClient http_;  // status and ping, over one connection kept between runs
};

std::unique_ptr<Check> make_php_fpm_check(const InstanceConfig& config) {
    PhpFpmOptions o;
    o.status_url = string_key(config, "status_url", "");
    o.ping_url = string_key(config, "ping_url", "");
    if (o.status_url.empty() && o.ping_url.empty())
        throw instance_error(config, "give 'status_url' or 'ping_url' (or both)");
    for (const char* key : {"status_url", "ping_url"}) {
        auto url = string_key(config, key, "");
        if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
            throw instance_error(config,
                                 std::string("'") + key +
                                     "' must be an http:// or https:// URL (the web server in front of the pool)",
                                 instance_value(config, key));
    }
    if (!o.status_url.empty()) o.status_url += o.status_url.find('?') == std::string::npos ? "?json" : "&json";
    o.ping_reply = string_key(config, "ping_reply", "pong");
    o.user = string_key(config, "username", string_key(config, "user", ""));
    o.password = secret_key(config);
    o.tls_verify = bool_key(config, "tls_verify", true);
    return std::make_unique<PhpFpmCheck>(std::move(o));
}

}  // namespace

PluginInfo php_fpm_plugin() {
    return {"php_fpm", "PHP-FPM pool processes, accepted and slow requests from its status page",
            make_php_fpm_check,
            {"status_url", "ping_url", "ping_reply", "username", "user", "password", "password_env", "password_file",
             "tls_verify"}};
}

}  // namespace tracer::collectors
