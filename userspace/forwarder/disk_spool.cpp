#include "forwarder/disk_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tracer::forwarder {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kMagic = "tracer-spool 1\n";
constexpr std::string_view kSuffix = ".payload";

struct FdCloser {
    int fd;
    ~FdCloser() {
        if (fd >= 0) ::close(fd);
    }
};

std::string header_of(const Payload& p) {
    std::string h(kMagic);
    h += "content-type: " + p.content_type + "\n";
    h += "content-encoding: " + p.content_encoding + "\n";
    h += "path: " + p.path + "\n";
    h += "samples: " + std::to_string(p.samples) + "\n\n";
    return h;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

// "name: value\n" at `pos`; advances pos.
bool header_line(const std::string& text, size_t& pos, std::string_view name, std::string& value) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) return false;
    std::string_view line(text.data() + pos, end - pos);
    if (!line.starts_with(name) || line.substr(name.size(), 2) != ": ") return false;
    value.assign(line.substr(name.size() + 2));
    pos = end + 1;
    return true;
}

}  // namespace

DiskSpool::DiskSpool(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw std::runtime_error("spool directory " + dir_ + ": cannot create: " + ec.message());
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.ends_with(".tmp")) {
            fs::remove(entry.path(), ec);
            continue;
        }
        if (!name.ends_with(kSuffix) || name.size() != 16 + kSuffix.size()) continue;
        uint64_t seq = 0;
        auto [end, perr] = std::from_chars(name.data(), name.data() + 16, seq, 16);
        if (perr != std::errc() || end != name.data() + 16) continue;
        uint64_t size = entry.file_size(ec);
        if (ec) continue;
        files_.push_back({seq, size});
    }
    if (ec) throw std::runtime_error("spool directory " + dir_ + ": cannot list: " + ec.message());
    std::sort(files_.begin(), files_.end(), [](const File& a, const File& b) { return a.seq < b.seq; });
    for (const auto& f : files_) bytes_ += f.bytes;
    if (!files_.empty()) next_seq_ = files_.back().seq + 1;
}

std::string DiskSpool::path_of(uint64_t seq) const {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(seq));
    return dir_ + "/" + name + std::string(kSuffix);
}

size_t DiskSpool::push(const Payload& p) {
    const std::string header = header_of(p);
    const uint64_t size = header.size() + p.body.size();
    if (size > max_bytes_) return 1;  // could never fit: dropped itself
    size_t dropped = 0;
    while (!files_.empty() && bytes_ + size > max_bytes_) {
        remove_front();
        ++dropped;
    }
    const uint64_t seq = next_seq_++;
    const std::string path = path_of(seq), tmp = path + ".tmp";
    FdCloser fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    auto fail = [&](const char* what) {
        std::string msg = "spool " + dir_ + ": cannot " + what + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return std::runtime_error(msg);
    };
    if (fd.fd < 0) throw fail("create a file");
    if (!write_all(fd.fd, header) || !write_all(fd.fd, p.body)) throw fail("write");
    if (::fdatasync(fd.fd) != 0) throw fail("sync");
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw fail("rename");
    files_.push_back({seq, size});
    bytes_ += size;
    return dropped;
}

std::optional<Payload> DiskSpool::front() {
    while (!files_.empty()) {
        const std::string path = path_of(files_.front().seq);
        std::string text;
        {
            FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
            char buf[65536];
            ssize_t n = 0;
            while (fd.fd >= 0 && (n = ::read(fd.fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
        }
        Payload p;
        size_t pos = kMagic.size();
        std::string samples;
        if (text.starts_with(kMagic) && header_line(text, pos, "content-type", p.content_type) &&
            header_line(text, pos, "content-encoding", p.content_encoding) && header_line(text, pos, "path", p.path) &&
            header_line(text, pos, "samples", samples) && pos < text.size() && text[pos] == '\n') {
            std::from_chars(samples.data(), samples.data() + samples.size(), p.samples);
            p.body = text.substr(pos + 1);
            return p;
        }
        ++corrupt_;
        remove_front();
    }
    return std::nullopt;
}

void DiskSpool::pop_front() {
    if (!files_.empty()) remove_front();
}

void DiskSpool::remove_front() {
    ::unlink(path_of(files_.front().seq).c_str());
    bytes_ -= files_.front().bytes;
    files_.pop_front();
}

}  // namespace tracer::forwarder
