#include "collectors/file_text.h"

#include <fstream>
#include <sstream>

namespace tracer::collectors {

std::string read_file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace tracer::collectors
