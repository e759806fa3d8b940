// Typed access to the keys of one `instances:` entry, for plugin factories.
// Every problem is a config::ConfigError naming the file and line:
//   "/etc/tracer/conf.d/mysql.yaml:7: mysql instance 0: 'port' must be an integer in 1..65535"
// Secrets (`password`, `password_env`, `password_file`) are resolved here and
// never appear in an error message.
#pragma once

#include "collectors/plugin.h"

#include <cstdint>
#include <optional>
#include <string>

namespace tracer::collectors {

class InstanceKeys {
public:
    explicit InstanceKeys(const InstanceConfig& config);

    bool has(const std::string& key) const;
    std::string string(const std::string& key, const std::string& fallback) const;
    // Throws when the key is absent.
    std::string required_string(const std::string& key) const;
    int64_t integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) const;
    bool boolean(const std::string& key, bool fallback) const;

    // The secret of `password`, `password_env` (the variable's name) or
    // `password_file` (its first line): at most one of them; "" when none.
    std::string password() const;

    // "<file>:<line>: <plugin> instance <n>: <what>" at the key's line (or the instance's).
    [[noreturn]] void fail(const std::string& key, const std::string& what) const;

private:
    YAML::Node node(const std::string& key) const;
    const InstanceConfig& config_;
};

}  // namespace tracer::collectors
