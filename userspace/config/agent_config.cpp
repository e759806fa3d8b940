// tracer.yaml loader. One table (kKeys) lists every key by its dotted path with
// the setter that converts and checks a value; the YAML walker, the
// TRACER_<KEY> environment overrides and the "unknown key" suggestions all
// read it, so a new key is one line there (plus its field and its docs).
#include "config/agent_config.h"
#include "config/sinks_config.h"
#include "config/yaml_documents.h"  // hardening
#include "pattern.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>

namespace tracer::config {
namespace {

constexpr double kMaxIntervalSeconds = 3600;
constexpr size_t kMaxFileBytes = 1 << 20;

// One value for one key, from a YAML node or from an environment variable.
struct Value {
    std::string key;                               // dotted path, for messages
    std::optional<std::string> scalar;             // a YAML scalar, or the variable's text
    std::optional<std::vector<std::string>> list;  // a YAML list of scalars, or the text split at ','
    std::string shown;                             // how errors quote it: 'abc', a list, a map, no value
    YAML::Node node;  // the YAML value itself (undefined for environment text): for keys whose
                      // value is a map or a list of maps, which parse it themselves
};

std::string quote(std::string_view s) {
    std::string out = "'";
    for (char c : s.substr(0, 80)) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out + (s.size() > 80 ? "...'" : "'");
}

[[noreturn]] void bad(const std::string& key, std::string_view expected, const std::string& shown) {
    throw ConfigError("'" + key + "' must be " + std::string(expected) + ", got " + shown);
}
[[noreturn]] void bad(const Value& v, std::string_view expected) {
    bad(v.key, expected, v.shown);
}

template <typename T>
bool parse_whole(std::string_view s, T& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

bool is_name(std::string_view s) {  // ^[a-z0-9_]+$
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// ---- converters: value -> field, throwing ConfigError("'key' must be ...") ----

double checked_seconds(double s, const std::string& key, const std::string& shown) {
    if (!std::isfinite(s) || !(s > 0)) bad(key, "a positive number of seconds", shown);
    if (s > kMaxIntervalSeconds) bad(key, "at most 3600 seconds", shown);
    return s;
}

double to_seconds(const Value& v) {
    double s = 0;
    if (!v.scalar || !parse_whole(*v.scalar, s)) bad(v, "a positive number of seconds");
    return checked_seconds(s, v.key, v.shown);
}

uint32_t to_u32(const Value& v, uint32_t min) {
    uint32_t n = 0;
    if (!v.scalar || !parse_whole(*v.scalar, n) || n < min) bad(v, "an integer >= " + std::to_string(min));
    return n;
}

uint32_t to_settle_segments(const Value& v) {
    uint32_t n = 0;
    if (!v.scalar || !parse_whole(*v.scalar, n) || n > 1024 || (n & (n - 1)) != 0)
        bad(v, "0 or a power of two from 1 to 1024");
    return n;
}

bool to_bool(const Value& v) {
    std::string t = v.scalar.value_or("?");
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
    if (t == "false" || t == "no" || t == "off" || t == "0") return false;
    bad(v, "true or false");
}

std::string to_host_root(const Value& v) {
    if (!v.scalar || (!v.scalar->empty() && v.scalar->front() != '/')) bad(v, "an absolute path (\"\" = /)");
    return *v.scalar;
}

std::string to_metrics_addr(const Value& v) {
    if (!v.scalar) bad(v, "HOST:PORT (\"\" = off)");
    if (!v.scalar->empty()) parse_host_port(*v.scalar, v.key);
    return *v.scalar;
}

constexpr std::string_view kHierarchy = "auto, unified or a cgroup v1 controller name such as memory";
std::string to_hierarchy(const Value& v) {
    if (!v.scalar || !is_name(*v.scalar)) bad(v, kHierarchy);
    return *v.scalar;
}

constexpr std::string_view kProbeBuild = "one of auto, modern, baseline";
std::string to_probe_build(const Value& v) {
    static constexpr std::string_view kBuilds[] = {"auto", "modern", "baseline"};
    if (!v.scalar || std::find(std::begin(kBuilds), std::end(kBuilds), *v.scalar) == std::end(kBuilds))
        bad(v, kProbeBuild);
    return *v.scalar;
}

constexpr std::string_view kLogLevel = "one of error, warn, info, debug";
std::string to_log_level(const Value& v) {
    static constexpr std::string_view kLevels[] = {"error", "warn", "info", "debug"};
    if (!v.scalar || std::find(std::begin(kLevels), std::end(kLevels), *v.scalar) == std::end(kLevels))
        bad(v, kLogLevel);
    return *v.scalar;
}

std::vector<std::string> to_syscall_names(const Value& v) {
    constexpr std::string_view expected = "a list of syscall names such as [read, write], or [\"*\"] for all";
    if (!v.list) bad(v, expected);
    for (const auto& name : *v.list)
        if (name != "*" && !is_name(name)) bad(v.key, expected, quote(name) + " in the list");
    return *v.list;
}

// ---- forwarder keys (sinks parse themselves: config/sinks_config.cpp) ----

uint64_t to_u64(const Value& v, uint64_t min) {
    uint64_t n = 0;
    if (!v.scalar || !parse_whole(*v.scalar, n) || n < min) bad(v, "an integer >= " + std::to_string(min));
    return n;
}

std::string to_string(const Value& v) {
    if (!v.scalar) bad(v, "a string");
    return *v.scalar;
}

std::string to_spool_dir(const Value& v) {
    if (!v.scalar || (!v.scalar->empty() && v.scalar->front() != '/')) bad(v, "an absolute path (\"\" = no spool)");
    return *v.scalar;
}

std::vector<std::string> to_tags(const Value& v) {
    if (!v.list) bad(v, "a list of \"key:value\" tags");
    check_tags(*v.list, v.key);
    return *v.list;
}

// From the file: the YAML node; from TRACER_SINKS: its text, read as YAML
// ('[{type: remote_write, url: "http://..."}]').
std::vector<SinkConfig> to_sinks(const Value& v) {
    if (v.node.IsDefined()) return parse_sinks(v.node, v.key);
    try {
        return parse_sinks(YAML::Load(v.scalar.value_or("")), v.key);
    } catch (const YAML::Exception& e) {
        throw ConfigError("'" + v.key + "' must be a YAML list of maps: " + e.msg);
    }
}

std::string to_socket_path(const Value& v) {
    if (!v.scalar || (!v.scalar->empty() && v.scalar->front() != '/')) bad(v, "an absolute path (\"\" = off)");
    return *v.scalar;
}

std::vector<std::pair<std::string, std::string>> to_labels_as_tags(const Value& v) {
    constexpr std::string_view expected =
        "a map of container label -> tag name, e.g. {team: team} (environment: \"team=team,tier=tier\")";
    std::vector<std::pair<std::string, std::string>> pairs;
    if (v.node.IsDefined() && v.node.IsMap()) {
        for (const auto& kv : v.node) {
            if (!kv.first.IsScalar() || !kv.second.IsScalar()) bad(v.key, expected, "an entry that is not label: tag");
            pairs.emplace_back(kv.first.Scalar(), kv.second.Scalar());
        }
    } else if (v.list && !v.node.IsDefined()) {  // environment text, split at ','
        for (const auto& item : *v.list) {
            size_t eq = item.rfind('=');
            if (eq == std::string::npos) bad(v.key, expected, quote(item) + " in the list");
            pairs.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        }
    } else if (!(v.node.IsDefined() && v.node.IsNull())) {
        bad(v, expected);
    }
    for (const auto& [label, tag] : pairs) {
        bool ok = !label.empty() && !tag.empty() && !(tag[0] >= '0' && tag[0] <= '9') &&
                  std::all_of(tag.begin(), tag.end(), [](char c) { return std::isalnum((unsigned char)c) || c == '_'; });
        if (!ok) bad(v.key, "tag names made of letters, digits and '_' (not starting with a digit)", quote(tag));
    }
    return pairs;
}

std::vector<std::string> to_container_filters(const Value& v) {
    constexpr std::string_view expected = "a list of \"name:<regex>\" or \"image:<regex>\"";
    if (!v.list) bad(v, expected);
    for (const auto& f : *v.list) {
        if (f.rfind("name:", 0) != 0 && f.rfind("image:", 0) != 0) bad(v.key, expected, quote(f) + " in the list");
        try {
            Pattern(f.substr(f.find(':') + 1));
        } catch (const PatternError& e) {
            bad(v.key, "valid regular expressions (RE2 syntax)", quote(f) + " (" + e.what() + ")");
        }
    }
    return *v.list;
}

std::string to_unix_socket_path(const Value& v) {
    if (!v.scalar || (!v.scalar->empty() && (v.scalar->front() != '/' || v.scalar->size() > 107)))
        bad(v, "an absolute path of at most 107 bytes (\"\" = off)");
    return *v.scalar;
}

std::vector<std::string> to_api_events(const Value& v) {
    constexpr std::string_view expected = "a list of event kinds among oom, exec, fork, exit, tcp";
    static constexpr std::string_view kKinds[] = {"oom", "exec", "fork", "exit", "tcp"};
    if (!v.list) bad(v, expected);
    for (const auto& kind : *v.list)
        if (std::find(std::begin(kKinds), std::end(kKinds), kind) == std::end(kKinds))
            bad(v.key, expected, quote(kind) + " in the list");
    return *v.list;
}

std::vector<double> to_percentiles(const Value& v) {
    constexpr std::string_view expected = "a list of quantiles between 0 and 1 such as [0.5, 0.95, 0.99]";
    if (!v.list) bad(v, expected);
    std::vector<double> out;
    for (const auto& item : *v.list) {
        double q = 0;
        if (!parse_whole(item, q) || !(q > 0) || !(q < 1)) bad(v.key, expected, quote(item) + " in the list");
        out.push_back(q);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// ---- the key table ----

struct Key {
    std::string_view path;  // "syscalls.latency": `latency:` under `syscalls:`, TRACER_SYSCALLS_LATENCY
    void (*set)(AgentConfig&, const Value&);
};

using C = AgentConfig;
using V = Value;
const Key kKeys[] = {
    {"interval", [](C& c, const V& v) { c.interval = to_seconds(v); }},
    {"metrics_addr", [](C& c, const V& v) { c.metrics_addr = to_metrics_addr(v); }},
    {"cgroup_hierarchy", [](C& c, const V& v) { c.cgroup_hierarchy = to_hierarchy(v); }},
    {"probe_build", [](C& c, const V& v) { c.probe_build = to_probe_build(v); }},
    {"host_root", [](C& c, const V& v) { c.host_root = to_host_root(v); }},
    {"max_cgroups", [](C& c, const V& v) { c.max_cgroups = to_u32(v, 1); }},
    {"top_cgroups", [](C& c, const V& v) { c.top_cgroups = to_u32(v, 0); }},
    {"log_level", [](C& c, const V& v) { c.log_level = to_log_level(v); }},
    {"syscalls.enabled", [](C& c, const V& v) { c.syscalls.enabled = to_bool(v); }},
    {"syscalls.latency", [](C& c, const V& v) { c.syscalls.latency = to_bool(v); }},
    {"syscalls.histogram_syscalls", [](C& c, const V& v) { c.syscalls.histogram_syscalls = to_syscall_names(v); }},
    {"syscalls.map_entries", [](C& c, const V& v) { c.syscalls.map_entries = to_u32(v, 64); }},
    {"syscalls.max_threads", [](C& c, const V& v) { c.syscalls.max_threads = to_u32(v, 64); }},
    {"syscalls.latency_window_ms", [](C& c, const V& v) { c.syscalls.latency_window_ms = to_u32(v, 1); }},
    {"syscalls.latency_period_ms", [](C& c, const V& v) { c.syscalls.latency_period_ms = to_u32(v, 1); }},
    {"syscalls.latency_quiet_rate", [](C& c, const V& v) { c.syscalls.latency_quiet_rate = to_u32(v, 0); }},
    {"sched.enabled", [](C& c, const V& v) { c.sched.enabled = to_bool(v); }},
    {"sched.map_entries", [](C& c, const V& v) { c.sched.map_entries = to_u32(v, 64); }},
    {"sched.max_threads", [](C& c, const V& v) { c.sched.max_threads = to_u32(v, 64); }},
    {"proc.enabled", [](C& c, const V& v) { c.proc.enabled = to_bool(v); }},
    {"proc.map_entries", [](C& c, const V& v) { c.proc.map_entries = to_u32(v, 64); }},
    {"proc.ring_bytes", [](C& c, const V& v) { c.proc.ring_bytes = to_u32(v, 4096); }},
    {"net.enabled", [](C& c, const V& v) { c.net.enabled = to_bool(v); }},
    {"net.map_entries", [](C& c, const V& v) { c.net.map_entries = to_u32(v, 64); }},
    {"net.tcp_settle_segments", [](C& c, const V& v) { c.net.tcp_settle_segments = to_settle_segments(v); }},
    {"hostname", [](C& c, const V& v) { c.hostname = to_string(v); }},
    {"tags", [](C& c, const V& v) { c.tags = to_tags(v); }},
    {"sinks", [](C& c, const V& v) { c.sinks = to_sinks(v); }},
    {"spool_dir", [](C& c, const V& v) { c.spool_dir = to_spool_dir(v); }},
    {"spool_max_bytes", [](C& c, const V& v) { c.spool_max_bytes = to_u64(v, 4096); }},
    {"docker_socket", [](C& c, const V& v) { c.docker_socket = to_socket_path(v); }},
    {"container_labels_as_tags", [](C& c, const V& v) { c.container_labels_as_tags = to_labels_as_tags(v); }},
    {"container_include", [](C& c, const V& v) { c.container_include = to_container_filters(v); }},
    {"container_exclude", [](C& c, const V& v) { c.container_exclude = to_container_filters(v); }},
    {"statsd.enabled", [](C& c, const V& v) { c.statsd.enabled = to_bool(v); }},
    {"statsd.listen", [](C& c, const V& v) { c.statsd.listen = to_metrics_addr(v); }},
    {"statsd.socket", [](C& c, const V& v) { c.statsd.socket = to_unix_socket_path(v); }},
    {"statsd.tcp_listen", [](C& c, const V& v) { c.statsd.tcp_listen = to_metrics_addr(v); }},
    {"statsd.udp_readers", [](C& c, const V& v) { c.statsd.udp_readers = to_u32(v, 1); }},
    {"statsd.origin_from_socket", [](C& c, const V& v) { c.statsd.origin_from_socket = to_bool(v); }},
    {"statsd.origin_from_field", [](C& c, const V& v) { c.statsd.origin_from_field = to_bool(v); }},
    {"statsd.percentiles", [](C& c, const V& v) { c.statsd.percentiles = to_percentiles(v); }},
    {"statsd.max_contexts", [](C& c, const V& v) { c.statsd.max_contexts = to_u32(v, 1); }},
    {"statsd.receive_buffer_bytes", [](C& c, const V& v) { c.statsd.receive_buffer_bytes = to_u32(v, 0); }},
    {"confd", [](C& c, const V& v) { c.confd = to_string(v); }},
    {"api_socket", [](C& c, const V& v) { c.api_socket = to_unix_socket_path(v); }},
    {"api_events", [](C& c, const V& v) { c.api_events = to_api_events(v); }},
};

std::string join_path(const std::string& prefix, std::string_view name) {
    return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

const Key* find_key(std::string_view path) {
    for (const Key& k : kKeys)
        if (k.path == path) return &k;
    return nullptr;
}

// The names directly under `prefix` ("" = top level), sections included, in table order.
std::vector<std::string> children(const std::string& prefix) {
    std::vector<std::string> names;
    for (const Key& k : kKeys) {
        std::string_view rest = k.path;
        if (!prefix.empty()) {
            if (rest.substr(0, prefix.size() + 1) != prefix + ".") continue;
            rest.remove_prefix(prefix.size() + 1);
        }
        std::string name(rest.substr(0, rest.find('.')));
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
}

bool is_section(const std::string& path) {
    return std::any_of(std::begin(kKeys), std::end(kKeys),
                       [&](const Key& k) { return k.path.substr(0, path.size() + 1) == path + "."; });
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string unknown_key(const std::string& prefix, const std::string& name) {
    std::string msg = "unknown key '" + join_path(prefix, name) + "' in tracer config (";
    std::string best, known;
    size_t best_distance = 3;  // suggest only within 2 edits
    for (const auto& k : children(prefix)) {
        if (size_t d = edit_distance(name, k); d < best_distance) best = k, best_distance = d;
        known += (known.empty() ? "" : ", ") + k;
    }
    if (!best.empty()) return msg + "did you mean '" + join_path(prefix, best) + "'?)";
    return msg + "known keys" + (prefix.empty() ? "" : " under '" + prefix + "'") + ": " + known + ")";
}

// ---- YAML ----

std::string describe(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Scalar: return quote(n.Scalar());
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Map: return "a map";
        default: return "no value";
    }
}

Value from_node(const std::string& key, const YAML::Node& n) {
    Value v{key, std::nullopt, std::nullopt, describe(n), n};
    if (n.IsScalar()) v.scalar = n.Scalar();
    if (n.IsSequence()) {
        std::vector<std::string> items;
        for (const auto& item : n) {
            if (!item.IsScalar()) {
                v.shown = "a list with an item that is not a string";
                return v;
            }
            items.push_back(item.Scalar());
        }
        v.list = std::move(items);
    }
    return v;
}

std::string at(const std::string& origin, const YAML::Mark& mark) {
    return origin + ":" + std::to_string(mark.line + 1) + ": ";
}

void apply_map(const YAML::Node& map, const std::string& prefix, AgentConfig& cfg, const std::string& origin) {
    std::map<std::string, int> seen;  // path -> line
    for (const auto& kv : map) {
        const YAML::Node& key = kv.first;
        const YAML::Node& value = kv.second;
        const std::string where = at(origin, key.Mark());
        if (!key.IsScalar()) throw ConfigError(where + "tracer config keys must be names, got " + describe(key));
        const std::string path = join_path(prefix, key.Scalar());
        if (auto [it, fresh] = seen.emplace(path, key.Mark().line + 1); !fresh)
            throw ConfigError(where + "duplicate key '" + path + "' (first on line " + std::to_string(it->second) +
                              ")");

        if (is_section(path)) {
            if (value.IsNull()) continue;  // every key under it commented out
            if (!value.IsMap())
                throw ConfigError(at(origin, value.Mark()) + "'" + path + "' must be a map of keys, got " +
                                  describe(value));
            apply_map(value, path, cfg, origin);
        } else if (const Key* k = find_key(path)) {
            try {
                k->set(cfg, from_node(path, value));
            } catch (const ConfigLineError& e) {  // inside a list of maps: the entry's own line
                throw ConfigError(origin + ":" + std::to_string(e.line) + ": " + e.what());
            } catch (const ConfigError& e) {  // a null value's mark is the next line's
                throw ConfigError(at(origin, value.IsNull() ? key.Mark() : value.Mark()) + e.what());
            }
        } else {
            throw ConfigError(where + unknown_key(prefix, key.Scalar()));
        }
    }
}

// ---- files and environment ----

// false if `path` does not exist; throws if it exists but cannot be read.
bool read_file(const std::string& path, std::string& out) {
    struct Close {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, Close> f(std::fopen(path.c_str(), "re"));
    auto fail = [&](const std::string& why) { return ConfigError(path + ": cannot read config file: " + why); };
    if (!f) {
        if (errno == ENOENT) return false;
        throw fail(std::strerror(errno));
    }
    struct stat st {};
    if (fstat(fileno(f.get()), &st) == 0 && S_ISDIR(st.st_mode)) throw fail("is a directory");
    char buf[8192];
    while (size_t n = std::fread(buf, 1, sizeof buf, f.get())) {
        out.append(buf, n);
        if (out.size() > kMaxFileBytes) throw fail("larger than 1 MiB, is it the right file?");
    }
    if (std::ferror(f.get())) throw fail(std::strerror(errno));
    return true;
}

std::string env_name(std::string_view path) {
    std::string name = "TRACER_";
    for (char c : path) name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

// A value given as text: an environment variable's, or a stored field to re-check.
// List keys read it comma-separated.
Value from_text(std::string_view path, const std::string& text) {
    std::vector<std::string> items;
    for (size_t start = 0; start <= text.size();) {
        size_t end = std::min(text.find(',', start), text.size());
        std::string item = text.substr(start, end - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) items.push_back(item);
        start = end + 1;
    }
    return {std::string(path), text, std::move(items), quote(text), YAML::Node(YAML::NodeType::Undefined)};
}

// yaml-cpp's error for a tab in the indentation of `line` (0-based) does not say so.
std::string tab_hint(const std::string& text, int line) {
    size_t start = 0;
    for (int i = 0; i < line; ++i) {
        start = text.find('\n', start);
        if (start == std::string::npos) return "";
        ++start;
    }
    size_t indent_end = std::min(text.find_first_not_of(" \t", start), text.size());
    bool tab = std::string_view(text).substr(start, indent_end - start).find('\t') != std::string_view::npos;
    return tab ? " (indent with spaces, not tabs)" : "";
}

}  // namespace

std::vector<std::string> known_keys() {
    std::vector<std::string> keys;
    for (const Key& k : kKeys) keys.emplace_back(k.path);
    return keys;
}

AgentConfig parse_agent_config(const std::string& yaml_text, const std::string& origin) {
    std::vector<YAML::Node> docs;
    try {
        docs = load_yaml_documents(yaml_text);  // hardening: not YAML::LoadAll, which can loop forever
    } catch (const YAML::Exception& e) {
        if (e.mark.is_null()) throw ConfigError(origin + ": invalid YAML: " + e.msg);
        throw ConfigError(origin + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                          ": invalid YAML: " + e.msg + tab_hint(yaml_text, e.mark.line));
    }
    AgentConfig cfg;
    if (docs.size() > 1) throw ConfigError(origin + ": more than one YAML document ('---'); tracer reads one");
    if (docs.empty() || docs[0].IsNull()) return cfg;
    if (!docs[0].IsMap())
        throw ConfigError(at(origin, docs[0].Mark()) + "tracer config must be a map of keys (interval: 10, ...), got " +
                          describe(docs[0]));
    apply_map(docs[0], "", cfg, origin);
    return cfg;
}

void apply_env_overrides(AgentConfig& cfg, const char* const* envp) {
    if (!envp) envp = environ;
    if (!envp) return;  // clearenv()
    for (const Key& k : kKeys) {
        const std::string var = env_name(k.path);
        for (const char* const* e = envp; *e; ++e) {
            if (std::strncmp(*e, var.c_str(), var.size()) != 0 || (*e)[var.size()] != '=') continue;
            try {
                k.set(cfg, from_text(k.path, *e + var.size() + 1));
            } catch (const ConfigError& err) {
                throw ConfigError("environment " + var + ": " + err.what());
            }
            break;
        }
    }
}

AgentConfig load_agent_config(const std::string& path, bool required) {
    AgentConfig cfg;
    std::string text;
    if (read_file(path, text)) {
        cfg = parse_agent_config(text, path);
        cfg.config_path = path;
    } else if (required) {
        throw ConfigError(path + ": no such config file");
    }
    apply_env_overrides(cfg);
    return cfg;
}

void validate(const AgentConfig& cfg) {
    char shown[64];
    std::snprintf(shown, sizeof shown, "'%g'", cfg.interval);
    checked_seconds(cfg.interval, "interval", shown);
    if (!cfg.metrics_addr.empty()) parse_host_port(cfg.metrics_addr, "metrics_addr");
    to_log_level(from_text("log_level", cfg.log_level));
    to_hierarchy(from_text("cgroup_hierarchy", cfg.cgroup_hierarchy));
    to_probe_build(from_text("probe_build", cfg.probe_build));
    if (cfg.syscalls.latency_period_ms == 0) bad("syscalls.latency_period_ms", "an integer >= 1", "'0'");
    if (cfg.syscalls.latency_window_ms == 0) bad("syscalls.latency_window_ms", "an integer >= 1", "'0'");
    if (cfg.syscalls.latency_window_ms > cfg.syscalls.latency_period_ms)
        bad("syscalls.latency_window_ms", "at most syscalls.latency_period_ms (" +
                                              std::to_string(cfg.syscalls.latency_period_ms) + ")",
            "'" + std::to_string(cfg.syscalls.latency_window_ms) + "'");
}

std::pair<std::string, uint16_t> parse_host_port(const std::string& addr, const std::string& key) {
    auto fail = [&] { return ConfigError("'" + key + "' must be HOST:PORT, got " + quote(addr)); };
    auto host_chars = [](std::string_view s, std::string_view extra) {
        return std::all_of(s.begin(), s.end(), [&](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
        });
    };
    std::string host, port;
    if (!addr.empty() && addr.front() == '[') {  // [v6]:PORT
        size_t close = addr.find(']');
        if (close == std::string::npos || addr.compare(close, 2, "]:") != 0) throw fail();
        host = addr.substr(1, close - 1);
        port = addr.substr(close + 2);
        if (host.find(':') == std::string::npos || !host_chars(host, ":.%-_")) throw fail();
    } else {  // HOST:PORT or :PORT; an unbracketed v6 address fails on its ':'
        size_t colon = addr.rfind(':');
        if (colon == std::string::npos) throw fail();
        host = addr.substr(0, colon);
        port = addr.substr(colon + 1);
        if (!host_chars(host, ".-_")) throw fail();
        if (host.empty()) host = "0.0.0.0";
    }
    uint16_t p = 0;
    if (port.empty() || !parse_whole(port, p)) throw fail();
    return {host, p};
}

}  // namespace tracer::config
