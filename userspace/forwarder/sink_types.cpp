#include "forwarder/sink_types.h"

#include "forwarder/sink_encoders.h"

namespace tracer::forwarder {

const std::vector<SinkType>& sink_types() {
    static const std::vector<SinkType> types = {
        {"remote_write", make_remote_write_encoder, "Authorization: Bearer ", false},
        {"datadog", make_datadog_encoder, "DD-API-KEY: ", true},
        {"influx", make_influx_encoder, "Authorization: Token ", true},
    };
    return types;
}

const SinkType* find_sink_type(std::string_view name) {
    for (const auto& t : sink_types())
        if (t.name == name) return &t;
    return nullptr;
}

std::string sink_type_names(std::string_view separator) {
    std::string out;
    for (const auto& t : sink_types()) out += (out.empty() ? "" : std::string(separator)) + std::string(t.name);
    return out;
}

}  // namespace tracer::forwarder
