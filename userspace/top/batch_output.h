// `tracer top --batch`: one refresh as text (like `top -b`) or as one JSON
// line, for scripts.
#pragma once

#include "top/top_session.h"

#include <nlohmann/json.hpp>

#include <string>

namespace tracer::top {

std::string batch_text(const TopSession& session, const ViewOptions& view);
nlohmann::json batch_json(const TopSession& session, const ViewOptions& view);

}  // namespace tracer::top
