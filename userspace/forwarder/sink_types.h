// Every sink type, one line each in sink_types.cpp: its `type:` name, its
// encoder, how an API key is sent, and whether it needs per-interval deltas.
// The config loader checks `type:` against this table and the forwarder
// builds sinks from it, so a type cannot be half-added.
#pragma once

#include "forwarder/payload.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tracer::forwarder {

struct SinkType {
    std::string_view name;                          // `type:` in tracer.yaml
    std::unique_ptr<SinkEncoder> (*make_encoder)();
    std::string_view auth_header;                   // the API key follows it: "DD-API-KEY: "
    bool needs_deltas;                              // counters as per-interval counts (not cumulative)
};

const std::vector<SinkType>& sink_types();
const SinkType* find_sink_type(std::string_view name);
// "remote_write, datadog, influx"
std::string sink_type_names(std::string_view separator = ", ");

}  // namespace tracer::forwarder
