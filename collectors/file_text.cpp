#include "collectors/file_text.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tracer::collectors {

// open/read/close: no stream, locale or second copy. The container and
// process plugins read thousands of these per run (bench_plugin_cost).
std::string read_file_text(const std::string& path) {
    std::string out;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the end, or an error (a directory, a file gone): what was read
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace tracer::collectors
