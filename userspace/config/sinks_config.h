// The forwarder's list-valued keys of tracer.yaml: `sinks:` (a list of maps)
// and `tags:`. Called by the key table in agent_config.cpp.
#pragma once

#include "config/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace tracer::config {

// `node` is the YAML value of `key` (a list of maps; null = no sinks).
// Throws ConfigLineError at the offending entry's line, e.g.
//   "'sinks[1].type' must be one of remote_write, datadog, influx, got 'prom'".
std::vector<SinkConfig> parse_sinks(const YAML::Node& node, const std::string& key);

// Checks global tags: "key:value" or "key", key non-empty. Throws ConfigError.
void check_tags(const std::vector<std::string>& tags, const std::string& key);

}  // namespace tracer::config
