#include "config/sinks_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

namespace tracer::config {
namespace {

constexpr std::string_view kSinkKeys[] = {
    "type", "url", "name", "api_key_env", "api_key_file", "timeout", "backoff_initial", "backoff_max",
    "tls_verify", "ca_file", "cert_file", "key_file", "proxy", "queue_batches", "max_series_per_request",
    "max_request_bytes", "spool_max_bytes"};

std::string shown(const YAML::Node& n) {
    if (n.IsScalar()) return "'" + n.Scalar().substr(0, 80) + "'";
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a map";
    return "no value";
}

// One value inside one sink entry: errors carry its line.
struct Field {
    std::string key;  // "sinks[0].timeout"
    const YAML::Node& node;
    int line;

    [[noreturn]] void bad(std::string_view expected) const {
        throw ConfigLineError(line, "'" + key + "' must be " + std::string(expected) + ", got " + shown(node));
    }
    std::string text() const {
        if (!node.IsScalar()) bad("a string");
        return node.Scalar();
    }
    double seconds() const {
        double s = 0;
        std::string t = text();
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), s);
        if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(s) || !(s > 0) || s > 3600)
            bad("a number of seconds > 0 and <= 3600");
        return s;
    }
    uint64_t integer(uint64_t min) const {
        uint64_t n = 0;
        std::string t = text();
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (ec != std::errc() || end != t.data() + t.size() || n < min)
            bad("an integer >= " + std::to_string(min));
        return n;
    }
    bool boolean() const {
        std::string t = node.IsScalar() ? node.Scalar() : "?";
        std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
        if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
        if (t == "false" || t == "no" || t == "off" || t == "0") return false;
        bad("true or false");
    }
};

bool is_sink_name(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

SinkConfig parse_sink(const YAML::Node& item, const std::string& prefix) {
    const int line = item.Mark().line + 1;
    if (!item.IsMap())
        throw ConfigLineError(line, "'" + prefix + "' must be a map such as {type: remote_write, url: ...}, got " +
                                        shown(item));
    SinkConfig s;
    bool has_type = false, has_url = false;
    for (const auto& kv : item) {
        const int key_line = kv.first.Mark().line + 1;
        const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        if (std::find(std::begin(kSinkKeys), std::end(kSinkKeys), name) == std::end(kSinkKeys)) {
            std::string known;
            for (auto k : kSinkKeys) known += (known.empty() ? "" : ", ") + std::string(k);
            throw ConfigLineError(key_line, "unknown key '" + prefix + "." + name + "' (known keys: " + known + ")");
        }
        const Field f{prefix + "." + name, kv.second, kv.second.IsNull() ? key_line : kv.second.Mark().line + 1};
        if (name == "type") {
            s.type = f.text();
            if (s.type != "remote_write" && s.type != "datadog" && s.type != "influx")
                f.bad("one of remote_write, datadog, influx");
            has_type = true;
        } else if (name == "url") {
            s.url = f.text();
            if (!s.url.starts_with("http://") && !s.url.starts_with("https://")) f.bad("an http:// or https:// URL");
            has_url = true;
        } else if (name == "name") {
            s.name = f.text();
            if (!is_sink_name(s.name)) f.bad("a name of letters, digits, '_' and '-'");
        } else if (name == "api_key_env") {
            s.api_key_env = f.text();
        } else if (name == "api_key_file") {
            s.api_key_file = f.text();
        } else if (name == "timeout") {
            s.timeout = f.seconds();
        } else if (name == "backoff_initial") {
            s.backoff_initial = f.seconds();
        } else if (name == "backoff_max") {
            s.backoff_max = f.seconds();
        } else if (name == "tls_verify") {
            s.tls_verify = f.boolean();
        } else if (name == "ca_file") {
            s.ca_file = f.text();
        } else if (name == "cert_file") {
            s.cert_file = f.text();
        } else if (name == "key_file") {
            s.key_file = f.text();
        } else if (name == "proxy") {
            s.proxy = f.text();
        } else if (name == "queue_batches") {
            s.queue_batches = static_cast<uint32_t>(std::min<uint64_t>(f.integer(1), UINT32_MAX));
        } else if (name == "max_series_per_request") {
            s.max_series_per_request = static_cast<uint32_t>(std::min<uint64_t>(f.integer(1), UINT32_MAX));
        } else if (name == "max_request_bytes") {
            s.max_request_bytes = f.integer(4096);
        } else if (name == "spool_max_bytes") {
            s.spool_max_bytes = f.integer(4096);
        }
    }
    if (!has_type) throw ConfigLineError(line, "'" + prefix + "' needs a 'type' (remote_write, datadog or influx)");
    if (!has_url) throw ConfigLineError(line, "'" + prefix + "' needs a 'url'");
    if (!s.api_key_env.empty() && !s.api_key_file.empty())
        throw ConfigLineError(line, "'" + prefix + "' has both api_key_env and api_key_file: keep one");
    if (s.cert_file.empty() != s.key_file.empty())
        throw ConfigLineError(line, "'" + prefix + "' needs cert_file and key_file together");
    if (s.backoff_initial > s.backoff_max)
        throw ConfigLineError(line, "'" + prefix + ".backoff_initial' must not exceed backoff_max");
    if (s.name.empty()) s.name = s.type;
    return s;
}

}  // namespace

std::vector<SinkConfig> parse_sinks(const YAML::Node& node, const std::string& key) {
    std::vector<SinkConfig> sinks;
    if (!node.IsDefined() || node.IsNull()) return sinks;
    if (!node.IsSequence())
        throw ConfigLineError(node.Mark().line + 1,
                              "'" + key + "' must be a list of maps ([{type: remote_write, url: ...}]), got " +
                                  shown(node));
    for (size_t i = 0; i < node.size(); ++i) {
        SinkConfig s = parse_sink(node[i], key + "[" + std::to_string(i) + "]");
        for (const auto& other : sinks)
            if (other.name == s.name)
                throw ConfigLineError(node[i].Mark().line + 1,
                                      "'" + key + "[" + std::to_string(i) + "]': a second sink named '" + s.name +
                                          "': give each sink of the same type its own 'name'");
        sinks.push_back(std::move(s));
    }
    return sinks;
}

void check_tags(const std::vector<std::string>& tags, const std::string& key) {
    for (const auto& t : tags) {
        size_t colon = t.find(':');
        std::string_view name = std::string_view(t).substr(0, colon);
        if (name.empty() || name.find_first_of(" ,=") != std::string_view::npos)
            throw ConfigError("'" + key + "' must be a list of \"key:value\" tags, got '" + t + "' in the list");
    }
}

}  // namespace tracer::config
