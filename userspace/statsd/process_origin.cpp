#include "statsd/process_origin.h"

#include <fstream>
#include <iterator>
#include <string_view>

namespace tracer::statsd {

metrics::Labels cgroup_labels_of_pid(pid_t pid, const std::string& hierarchy, const std::string& proc_root) {
    const std::string dir = proc_root + "/" + std::to_string(pid);
    // An exited sender (a zombie) no longer shows its cgroup: no origin rather than a wrong one.
    std::ifstream stat(dir + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size() || text[close + 2] == 'Z' || text[close + 2] == 'X')
        return {};
    std::ifstream in(dir + "/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        // "<id>:<controllers>:<path>"
        size_t first = line.find(':');
        size_t second = first == std::string::npos ? first : line.find(':', first + 1);
        if (second == std::string::npos) continue;
        std::string_view controllers(line.data() + first + 1, second - first - 1);
        bool match = false;
        if (hierarchy == "unified") {
            match = controllers.empty() && line.compare(0, first, "0") == 0;
        } else {
            while (!controllers.empty() && !match) {
                size_t comma = controllers.find(',');
                match = controllers.substr(0, comma) == hierarchy;
                controllers = comma == std::string_view::npos ? std::string_view{} : controllers.substr(comma + 1);
            }
        }
        if (match) return {{"cgroup", line.substr(second + 1)}};
    }
    return {};
}

}  // namespace tracer::statsd
