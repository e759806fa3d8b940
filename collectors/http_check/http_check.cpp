// http_check: is a URL up, how fast, does it say what it should, when does
// its certificate expire. Metric names follow the Datadog http_check integration.
#include "collectors/http_check/http_check.h"

#include "collectors/http_fetch.h"
#include "collectors/instance_keys.h"

#include <chrono>

namespace tracer::collectors {
namespace {

class HttpCheck : public Check {
public:
    explicit HttpCheck(const InstanceConfig& cfg)
        : url_(required_string_key(cfg, "url")),
          method_(string_key(cfg, "method", "GET")),
          body_(string_key(cfg, "data")),
          headers_(string_list_key(cfg, "headers")),
          username_(string_key(cfg, "username")),
          password_(secret_key(cfg, "password")),
          status_pattern_(string_key(cfg, "http_response_status_code", "(1|2|3)\\d\\d")),
          status_re_(pattern_key(cfg, "http_response_status_code", status_pattern_)),
          content_pattern_(string_key(cfg, "content_match")),
          content_re_(pattern_key(cfg, "content_match", content_pattern_)),
          reverse_content_match_(bool_key(cfg, "reverse_content_match", false)),
          tls_verify_(bool_key(cfg, "tls_verify", true)),
          ca_file_(string_key(cfg, "tls_ca_cert")),
          check_certificate_(bool_key(cfg, "check_certificate_expiration", true)),
          days_warning_(number_key(cfg, "days_warning", 14, 0, 3650)),
          days_critical_(number_key(cfg, "days_critical", 7, 0, 3650)) {
        tags_.push_back({"url", url_});
        if (auto name = string_key(cfg, "name"); !name.empty()) tags_.push_back({"instance", name});
    }

    // as Datadog's http_check names it
    std::string status_check() const override { return "http.can_connect"; }

    void run(CheckRun& out) override {
        HttpRequest req;
        req.url = url_;
        req.method = method_;
        req.body = body_;
        req.headers = headers_;
        req.username = username_;
        req.password = password_;
        req.deadline = out.deadline();
        req.tls_verify = tls_verify_;
        req.ca_file = ca_file_;
        req.want_certificate = check_certificate_ && url_.rfind("https://", 0) == 0;
        HttpResponse res;
        try {
            res = http_fetch(req);
        } catch (const std::exception& e) {
            down(out, e.what());
            return;
        }
        out.gauge("network.http.response_time", res.seconds, tags_, "seconds");
        std::string code = std::to_string(res.status);
        if (!status_re_.full_match(code)) {
            down(out, "HTTP " + code + " does not match " + status_pattern_);
        } else if (!content_pattern_.empty() && content_re_.search(res.body) == reverse_content_match_) {
            down(out, reverse_content_match_ ? "content matches " + content_pattern_
                                             : "content does not match " + content_pattern_);
        } else {
            out.gauge("network.http.can_connect", 1, tags_);
            out.gauge("network.http.cant_connect", 0, tags_);
            out.service_check(status_check(), CheckStatus::Ok, "HTTP " + code);
        }
        if (req.want_certificate) certificate(out, res);
    }

private:
    void down(CheckRun& out, const std::string& why) {
        out.gauge("network.http.can_connect", 0, tags_);
        out.gauge("network.http.cant_connect", 1, tags_);
        out.service_check(status_check(), CheckStatus::Critical, why);
    }

    void certificate(CheckRun& out, const HttpResponse& res) {
        if (!res.cert_not_after) {
            out.service_check("http.ssl_cert", CheckStatus::Unknown, "no certificate information");
            return;
        }
        auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                       .count();
        double left = double(*res.cert_not_after - now);
        out.gauge("http.ssl.seconds_left", left, tags_, "seconds");
        out.gauge("http.ssl.days_left", left / 86400, tags_);
        double days = left / 86400;
        auto status = days < days_critical_ ? CheckStatus::Critical
                      : days < days_warning_ ? CheckStatus::Warning
                                             : CheckStatus::Ok;
        out.service_check("http.ssl_cert", status,
                          days < 0 ? "the certificate has expired"
                                   : "the certificate expires in " + std::to_string(static_cast<int>(days)) + " days");
    }

    std::string url_, method_, body_;
    std::vector<std::string> headers_;
    std::string username_, password_;
    std::string status_pattern_;
    Pattern status_re_;
    std::string content_pattern_;
    Pattern content_re_;
    bool reverse_content_match_, tls_verify_;
    std::string ca_file_;
    bool check_certificate_;
    double days_warning_, days_critical_;
    metrics::Labels tags_;
};

}  // namespace

PluginInfo http_check_plugin() {
    return {"http_check", "HTTP(S) endpoints: up, response time, status and content match, certificate expiry",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<HttpCheck>(cfg); },
            {"url", "name", "method", "data", "headers", "username", "password", "http_response_status_code",
             "content_match", "reverse_content_match", "tls_verify", "tls_ca_cert", "check_certificate_expiration",
             "days_warning", "days_critical"}};
}

}  // namespace tracer::collectors
