// The whole text of a small file (/proc, /sys): "" when it cannot be read.
#pragma once

#include <string>

namespace tracer::collectors {
std::string read_file_text(const std::string& path);
}
