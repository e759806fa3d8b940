#include "collectors/apache/apache.h"

#include "collectors/http_page.h"
#include "collectors/instance_keys.h"

#include <charconv>
#include <map>
#include <sstream>
#include <stdexcept>

namespace tracer::collectors {
namespace {

struct ApacheOptions {
    std::string url;
    std::string user, password;
    bool tls_verify = true;
};

// "Key: value" fields of the ?auto page that become gauges as they are.
struct Field {
    const char* key;
    const char* metric;
    const char* unit;
};
constexpr Field kGauges[] = {
    {"IdleWorkers", "apache.performance.idle_workers", ""},
    {"BusyWorkers", "apache.performance.busy_workers", ""},
    {"CPULoad", "apache.performance.cpu_load", "percent"},
    {"Uptime", "apache.performance.uptime", "seconds"},
    {"Total Accesses", "apache.net.hits", ""},
    {"ConnsTotal", "apache.conns_total", ""},
    {"ConnsAsyncWriting", "apache.conns_async_writing", ""},
    {"ConnsAsyncKeepAlive", "apache.conns_async_keep_alive", ""},
    {"ConnsAsyncClosing", "apache.conns_async_closing", ""},
};

// Scoreboard characters (one per worker slot) and what they count.
constexpr std::pair<char, const char*> kScoreboard[] = {
    {'_', "apache.scoreboard.waiting_for_connection"},
    {'S', "apache.scoreboard.starting_up"},
    {'R', "apache.scoreboard.reading_request"},
    {'W', "apache.scoreboard.sending_reply"},
    {'K', "apache.scoreboard.keepalive"},
    {'D', "apache.scoreboard.dns_lookup"},
    {'C', "apache.scoreboard.closing_connection"},
    {'L', "apache.scoreboard.logging"},
    {'G', "apache.scoreboard.gracefully_finishing"},
    {'I', "apache.scoreboard.idle_cleanup"},
    {'.', "apache.scoreboard.open_slot"},
};

bool parse_number(const std::string& text, double& out) {
    // mod_status writes ".01" for 0.01; from_chars accepts that.
    auto r = std::from_chars(text.data(), text.data() + text.size(), out);
    return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

class ApacheCheck : public Check {
public:
    explicit ApacheCheck(ApacheOptions options) : options_(std::move(options)) {}

    void run(CheckRun& out) override {
        std::string page;
        try {
            page = fetch_status_page(http_, {.url = options_.url,
                  .username = options_.user, .password = options_.password,
                  .deadline = out.deadline(), .tls_verify = options_.tls_verify});
        } catch (const std::exception& e) {
            out.service_check("apache.can_connect", CheckStatus::Critical, e.what());
            throw;
        }
        std::map<std::string, std::string> fields;
        std::istringstream lines(page);
        std::string line;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            auto colon = line.find(": ");
            if (colon == std::string::npos) continue;
            fields[line.substr(0, colon)] = line.substr(colon + 2);
        }
        size_t reported = 0;
        for (const auto& f : kGauges) {
            double v = 0;
            auto it = fields.find(f.key);
            if (it == fields.end() || !parse_number(it->second, v)) continue;
            out.gauge(f.metric, v, {}, f.unit);
            ++reported;
        }
        double v = 0;
        if (auto it = fields.find("Total Accesses"); it != fields.end() && parse_number(it->second, v))
            out.rate("apache.net.request_per_s", v);
        if (auto it = fields.find("Total kBytes"); it != fields.end() && parse_number(it->second, v)) {
            out.gauge("apache.net.bytes", v * 1024, {}, "bytes");
            out.rate("apache.net.bytes_per_s", v * 1024, {}, "bytes");
            ++reported;
        }
        if (auto it = fields.find("Scoreboard"); it != fields.end()) {
            const std::string& board = it->second;
            for (auto [c, metric] : kScoreboard) {
                size_t n = 0;
                for (char s : board) n += s == c;
                out.gauge(metric, static_cast<double>(n));
            }
            out.gauge("apache.performance.max_workers", static_cast<double>(board.size()));
            ++reported;
        }
        if (reported == 0) {
            std::string why = options_.url +
                              ": no mod_status fields in the answer (is it the server-status?auto page, with mod_status loaded?)";
            out.service_check("apache.can_connect", CheckStatus::Critical, why);
            throw std::runtime_error(why);
        }
        out.service_check("apache.can_connect", CheckStatus::Ok);
    }

private:
    ApacheOptions options_;
    HttpClient http_;  // the server-status connection, kept between runs
};

std::unique_ptr<Check> make_apache_check(const InstanceConfig& config) {
    ApacheOptions o;
    o.url = required_string_key(config, "apache_status_url");
    if (o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0)
        throw instance_error(config, "'apache_status_url' must be an http:// or https:// URL",
                             instance_value(config, "apache_status_url"));
    if (o.url.find('?') == std::string::npos) o.url += "?auto";
    o.user = string_key(config, "username", string_key(config, "apache_user", ""));
    o.password = secret_key(config);
    o.tls_verify = bool_key(config, "tls_verify", true);
    return std::make_unique<ApacheCheck>(std::move(o));
}

}  // namespace

PluginInfo apache_plugin() {
    return {"apache", "Apache httpd workers, requests and bytes from mod_status (server-status?auto)",
            make_apache_check,
            {"apache_status_url", "username", "apache_user", "password", "password_env", "password_file", "tls_verify"}};
}

}  // namespace tracer::collectors
