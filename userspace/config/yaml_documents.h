// The YAML documents of a config text, read without YAML::LoadAll: yaml-cpp
// 0.7 (Debian bookworm) loops forever in LoadAll, allocating, on some malformed
// input (a ',' where a key should be: ",a: 1"), found by the config fuzz test.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace tracer::config {

// For a config that must be one document: none for an empty text; the first
// document; and when the text holds more than one, a second (Null) node so the
// caller can refuse it. Throws YAML::ParserException (as YAML::Load does) for
// malformed input, including the input that would make LoadAll loop: more than
// one document without a document marker ("---" or "...") in the text.
std::vector<YAML::Node> load_yaml_documents(const std::string& text);

}  // namespace tracer::config
