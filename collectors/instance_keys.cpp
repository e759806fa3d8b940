#include "collectors/instance_keys.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tracer::collectors {

std::string instance_where(const InstanceConfig& cfg, const YAML::Node& node) {
    const YAML::Node& at = node.IsDefined() && !node.Mark().is_null() ? node : cfg.instance;
    std::string line = at.IsDefined() && !at.Mark().is_null() ? ":" + std::to_string(at.Mark().line + 1) : "";
    return cfg.file + line + ": " + cfg.plugin + " instance " + std::to_string(cfg.index) + ": ";
}

config::ConfigError instance_error(const InstanceConfig& cfg, const std::string& what, const YAML::Node& node) {
    return config::ConfigError(instance_where(cfg, node) + what);
}

YAML::Node instance_value(const InstanceConfig& cfg, const std::string& key) {
    if (cfg.instance.IsMap())
        if (auto v = cfg.instance[key]; v.IsDefined() && !v.IsNull()) return v;
    if (cfg.init_config.IsMap())
        if (auto v = cfg.init_config[key]; v.IsDefined() && !v.IsNull()) return v;
    return YAML::Node(YAML::NodeType::Undefined);
}

std::string string_key(const InstanceConfig& cfg, const std::string& key, const std::string& fallback) {
    auto v = instance_value(cfg, key);
    if (!v.IsDefined()) return fallback;
    if (!v.IsScalar()) throw instance_error(cfg, "'" + key + "' must be a string", v);
    return v.Scalar();
}

std::string required_string_key(const InstanceConfig& cfg, const std::string& key) {
    std::string s = string_key(cfg, key);
    if (s.empty()) throw instance_error(cfg, "'" + key + "' is required");
    return s;
}

double number_key(const InstanceConfig& cfg, const std::string& key, double fallback, double min, double max) {
    auto v = instance_value(cfg, key);
    if (!v.IsDefined()) return fallback;
    std::string text = v.IsScalar() ? v.Scalar() : "";
    char* end = nullptr;
    double d = text.empty() ? NAN : std::strtod(text.c_str(), &end);
    if (std::isnan(d) || (end && *end) || d < min || d > max) {
        std::ostringstream range;
        range << "a number from " << min << " to " << max;
        throw instance_error(cfg, "'" + key + "' must be " + range.str() + ", got " +
                                      (v.IsScalar() ? "'" + text + "'" : std::string("a list or map")),
                             v);
    }
    return d;
}

bool bool_key(const InstanceConfig& cfg, const std::string& key, bool fallback) {
    auto v = instance_value(cfg, key);
    if (!v.IsDefined()) return fallback;
    bool out = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out))
        throw instance_error(cfg, "'" + key + "' must be true or false", v);
    return out;
}

std::vector<std::string> string_list_key(const InstanceConfig& cfg, const std::string& key) {
    auto v = instance_value(cfg, key);
    std::vector<std::string> out;
    if (!v.IsDefined()) return out;
    if (v.IsScalar()) return {v.Scalar()};
    if (!v.IsSequence()) throw instance_error(cfg, "'" + key + "' must be a list of strings", v);
    for (const auto& item : v) {
        if (!item.IsScalar()) throw instance_error(cfg, "'" + key + "' must be a list of strings", item);
        out.push_back(item.Scalar());
    }
    return out;
}

namespace {
Pattern compiled(const InstanceConfig& cfg, const std::string& key, const std::string& pattern) {
    try {
        return Pattern(pattern);
    } catch (const PatternError& e) {
        throw instance_error(cfg, "'" + key + "': '" + pattern + "' is not a valid regular expression: " + e.what(),
                             instance_value(cfg, key));
    }
}
}  // namespace

Pattern pattern_key(const InstanceConfig& cfg, const std::string& key, const std::string& fallback) {
    return compiled(cfg, key, string_key(cfg, key, fallback));
}

std::vector<Pattern> pattern_list_key(const InstanceConfig& cfg, const std::string& key) {
    std::vector<Pattern> out;
    for (const auto& s : string_list_key(cfg, key)) out.push_back(compiled(cfg, key, s));
    return out;
}

std::vector<std::string> secret_keys(const std::string& key) { return {key, key + "_env", key + "_file"}; }

std::string secret_key(const InstanceConfig& cfg, const std::string& key) {
    auto inline_value = instance_value(cfg, key);
    auto env = instance_value(cfg, key + "_env");
    auto file = instance_value(cfg, key + "_file");
    int given = inline_value.IsDefined() + env.IsDefined() + file.IsDefined();
    if (given > 1)
        throw instance_error(cfg, "set only one of '" + key + "', '" + key + "_env' and '" + key + "_file'");
    if (inline_value.IsDefined()) {
        if (!inline_value.IsScalar()) throw instance_error(cfg, "'" + key + "' must be a string", inline_value);
        return inline_value.Scalar();
    }
    if (env.IsDefined()) {
        std::string name = string_key(cfg, key + "_env");
        const char* value = std::getenv(name.c_str());
        if (!value) throw instance_error(cfg, "'" + key + "_env': the environment variable " + name + " is not set", env);
        return value;
    }
    if (file.IsDefined()) {
        std::string path = string_key(cfg, key + "_file");
        std::ifstream in(path);
        if (!in) throw instance_error(cfg, "'" + key + "_file': cannot read " + path, file);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        if (!text.empty() && text.back() == '\n') text.pop_back();
        if (!text.empty() && text.back() == '\r') text.pop_back();
        return text;
    }
    return "";
}

}  // namespace tracer::collectors
