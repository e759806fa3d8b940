#include "collectors/instance_keys.h"

#include "config/agent_config.h"

#include <cstdlib>
#include <fstream>

namespace tracer::collectors {

InstanceKeys::InstanceKeys(const InstanceConfig& config) : config_(config) {}

YAML::Node InstanceKeys::node(const std::string& key) const {
    if (!config_.instance.IsMap()) return YAML::Node();
    return config_.instance[key];
}

bool InstanceKeys::has(const std::string& key) const {
    auto n = node(key);
    return n.IsDefined() && !n.IsNull();
}

void InstanceKeys::fail(const std::string& key, const std::string& what) const {
    int line = -1;
    auto n = node(key);
    if (n.IsDefined() && n.Mark().line >= 0) line = n.Mark().line + 1;
    else if (config_.instance.IsDefined() && config_.instance.Mark().line >= 0) line = config_.instance.Mark().line + 1;
    std::string where = config_.file.empty() ? config_.plugin + ".yaml" : config_.file;
    if (line > 0) where += ":" + std::to_string(line);
    throw config::ConfigError(where + ": " + config_.plugin + " instance " + std::to_string(config_.index) + ": " +
                              what);
}

std::string InstanceKeys::string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    auto n = node(key);
    if (!n.IsScalar()) fail(key, "'" + key + "' must be a string");
    return n.Scalar();
}

std::string InstanceKeys::required_string(const std::string& key) const {
    if (!has(key)) fail(key, "'" + key + "' is required");
    auto value = string(key, "");
    if (value.empty()) fail(key, "'" + key + "' must not be empty");
    return value;
}

int64_t InstanceKeys::integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
    if (!has(key)) return fallback;
    auto n = node(key);
    int64_t value = 0;
    bool ok = n.IsScalar();
    if (ok) {
        try {
            value = n.as<int64_t>();
        } catch (const YAML::Exception&) {
            ok = false;
        }
    }
    if (!ok || value < min || value > max)
        fail(key, "'" + key + "' must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    return value;
}

bool InstanceKeys::boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    auto n = node(key);
    try {
        if (n.IsScalar()) return n.as<bool>();
    } catch (const YAML::Exception&) {
    }
    fail(key, "'" + key + "' must be true or false");
}

std::string InstanceKeys::password() const {
    int given = has("password") + has("password_env") + has("password_file");
    if (given > 1) fail("password", "give only one of 'password', 'password_env' and 'password_file'");
    if (has("password")) {
        auto n = node("password");
        if (!n.IsScalar()) fail("password", "'password' must be a string");
        return n.Scalar();
    }
    if (has("password_env")) {
        auto name = string("password_env", "");
        const char* value = std::getenv(name.c_str());
        if (!value) fail("password_env", "the environment variable '" + name + "' (password_env) is not set");
        return value;
    }
    if (has("password_file")) {
        auto path = string("password_file", "");
        std::ifstream in(path);
        if (!in) fail("password_file", "cannot read password_file '" + path + "'");
        std::string line;
        std::getline(in, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    return "";
}

}  // namespace tracer::collectors
