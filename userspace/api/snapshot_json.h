// The local API's JSON form of the metric model (docs/api.md): a Snapshot
// rendered for /v1/snapshot and read back by `tracer top` and `tracer status`.
// Every value round-trips: families keep their order, samples their labels in
// order, histograms their bounds and bucket counts.
#pragma once

#include "metrics/series.h"

#include <nlohmann/json.hpp>

#include <string>

namespace tracer::api {

nlohmann::json snapshot_to_json(const metrics::Snapshot& snapshot);
// Throws std::runtime_error naming the family/field that does not fit.
metrics::Snapshot snapshot_from_json(const nlohmann::json& families);

const char* metric_type_name(metrics::MetricType type);

}  // namespace tracer::api
