#include "config/sinks_config.h"

#include "forwarder/sink_types.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

namespace tracer::config {
namespace {

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

// Every key of a sink entry with the setter that converts and checks it,
// as the agent's own key table does (agent_config.cpp).
struct SinkKey {
    std::string_view name;
    void (*set)(SinkConfig&, const Field&);
};
using S = SinkConfig;
using F = Field;
uint32_t to_u32(const Field& f) { return static_cast<uint32_t>(std::min<uint64_t>(f.integer(1), UINT32_MAX)); }
const SinkKey kSinkKeys[] = {
    {"type", [](S& s, const F& f) {
         s.type = f.text();
         if (!forwarder::find_sink_type(s.type)) f.bad("one of " + forwarder::sink_type_names());
     }},
    {"url", [](S& s, const F& f) {
         s.url = f.text();
         if (!s.url.starts_with("http://") && !s.url.starts_with("https://")) f.bad("an http:// or https:// URL");
     }},
    {"name", [](S& s, const F& f) {
         s.name = f.text();
         if (!is_sink_name(s.name)) f.bad("a name of letters, digits, '_' and '-'");
     }},
    {"api_key_env", [](S& s, const F& f) { s.api_key_env = f.text(); }},
    {"api_key_file", [](S& s, const F& f) { s.api_key_file = f.text(); }},
    {"timeout", [](S& s, const F& f) { s.timeout = f.seconds(); }},
    {"backoff_initial", [](S& s, const F& f) { s.backoff_initial = f.seconds(); }},
    {"backoff_max", [](S& s, const F& f) { s.backoff_max = f.seconds(); }},
    {"tls_verify", [](S& s, const F& f) { s.tls_verify = f.boolean(); }},
    {"ca_file", [](S& s, const F& f) { s.ca_file = f.text(); }},
    {"cert_file", [](S& s, const F& f) { s.cert_file = f.text(); }},
    {"key_file", [](S& s, const F& f) { s.key_file = f.text(); }},
    {"proxy", [](S& s, const F& f) { s.proxy = f.text(); }},
    {"queue_batches", [](S& s, const F& f) { s.queue_batches = to_u32(f); }},
    {"max_series_per_request", [](S& s, const F& f) { s.max_series_per_request = to_u32(f); }},
    {"max_request_bytes", [](S& s, const F& f) { s.max_request_bytes = f.integer(4096); }},
    {"spool_max_bytes", [](S& s, const F& f) { s.spool_max_bytes = f.integer(4096); }},
};

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
        const SinkKey* key = nullptr;
        for (const auto& k : kSinkKeys)
            if (k.name == name) key = &k;
        if (!key) {
            std::string known;
            for (const auto& k : kSinkKeys) known += (known.empty() ? "" : ", ") + std::string(k.name);
            throw ConfigLineError(key_line, "unknown key '" + prefix + "." + name + "' (known keys: " + known + ")");
        }
        const Field f{prefix + "." + name, kv.second, kv.second.IsNull() ? key_line : kv.second.Mark().line + 1};
        key->set(s, f);
        has_type |= name == "type";
        has_url |= name == "url";
    }
    if (!has_type)
        throw ConfigLineError(line, "'" + prefix + "' needs a 'type' (" + forwarder::sink_type_names(" or ") + ")");
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
