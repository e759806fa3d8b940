// Typed reads of an instance's keys for plugin factories: the value from the
// instance entry, else from init_config (file-wide defaults), else the default
// given. A wrong type or value throws config::ConfigError "<file>:<line>: ..."
// naming the key and what it must be; a secret's value is never in a message.
#pragma once

#include "collectors/plugin.h"
#include "config/agent_config.h"
#include "pattern.h"

#include <optional>
#include <string>
#include <vector>

namespace tracer::collectors {

// "<file>:<line>: <plugin> instance <index>: " for `node` (the instance itself
// when `node` has no position).
std::string instance_where(const InstanceConfig& cfg, const YAML::Node& node = YAML::Node());

// The node of `key` in the instance, else in init_config; undefined if neither has it.
YAML::Node instance_value(const InstanceConfig& cfg, const std::string& key);

std::string string_key(const InstanceConfig& cfg, const std::string& key, const std::string& fallback = "");
// Throws when the key is absent or empty.
std::string required_string_key(const InstanceConfig& cfg, const std::string& key);
double number_key(const InstanceConfig& cfg, const std::string& key, double fallback, double min, double max);
bool bool_key(const InstanceConfig& cfg, const std::string& key, bool fallback);
// A list of strings (a single string counts as a list of one).
std::vector<std::string> string_list_key(const InstanceConfig& cfg, const std::string& key);
// A regular expression (RE2 syntax, pattern.h), `fallback` when absent; an
// invalid one throws naming the key, the pattern and RE2's reason.
Pattern pattern_key(const InstanceConfig& cfg, const std::string& key, const std::string& fallback = "");
// A list of them, as string_list_key reads it.
std::vector<Pattern> pattern_list_key(const InstanceConfig& cfg, const std::string& key);

// A secret named `key` (e.g. "password"): `key:` in the YAML, or the
// environment variable named by `key_env:`, or the contents of the file named
// by `key_file:` (one trailing newline stripped); "" when none is set. Throws
// when more than one is set, the variable is unset or the file unreadable
// (the message names the variable or file, never the secret).
std::string secret_key(const InstanceConfig& cfg, const std::string& key = "password");

// The instance keys a secret `key` brings: key, key_env, key_file.
std::vector<std::string> secret_keys(const std::string& key = "password");

// A ConfigError located at `node` (or the instance).
config::ConfigError instance_error(const InstanceConfig& cfg, const std::string& what,
                                   const YAML::Node& node = YAML::Node());

}  // namespace tracer::collectors
