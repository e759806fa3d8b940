#include "collectors/container/cgroup_stats.h"

#include "collectors/file_text.h"

#include <charconv>
#include <string_view>

namespace tracer::collectors {
namespace {

// v1 writes PAGE_COUNTER_MAX pages (about 2^63 bytes) for "no limit".
constexpr double kNoLimitAbove = 4.6e18;  // 2^62

std::optional<double> number(std::string_view s) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// The whitespace-separated words of `line` (no stream: the plugin splits
// thousands of lines per run).
std::vector<std::string> words(std::string_view line) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        size_t start = i;
        while (i < line.size() && !is_space(line[i])) ++i;
        if (i > start) out.emplace_back(line.substr(start, i - start));
    }
    return out;
}

std::string malformed(const std::string& path, size_t line_no, const std::string& line) {
    return path + ":" + std::to_string(line_no) + ": malformed line '" + line.substr(0, 80) + "'";
}

// Calls `on_line(words)` for every non-empty line; a false return is a malformed line.
template <typename OnLine>
void for_each_line(const std::string& text, const std::string& path, std::vector<std::string>& problems,
                   OnLine on_line) {
    size_t line_no = 0;
    bool reported = false;  // one problem per file
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + start, end - start);
        start = end + 1;
        ++line_no;
        auto w = words(line);
        if (w.empty() || on_line(w)) continue;
        if (!reported) problems.push_back(malformed(path, line_no, std::string(line)));
        reported = true;
    }
}

std::optional<double> value_of(const std::map<std::string, double>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? std::nullopt : std::optional<double>(it->second);
}

// A memory.stat figure of the container. v1 has both the cgroup's own figure
// and a `total_` one (with its descendants): the container's is the total.
// v2's figures always include the descendants.
std::optional<double> memory_stat(const std::map<std::string, double>& m, const std::string& key) {
    if (auto total = value_of(m, "total_" + key)) return total;
    return value_of(m, key);
}

class StatsReader {
public:
    StatsReader(const CgroupFiles& files, const std::string& cgroup_path, std::vector<std::string>& problems)
        : files_(files), cgroup_path_(cgroup_path), problems_(problems) {}

    void memory(CgroupStats& s) {
        const auto* m = files_.mount_of("memory");
        if (!m || !open(*m)) return;
        std::map<std::string, double> stat = key_values("memory.stat");
        const bool v2 = m->v2;
        s.memory_usage = single(v2 ? "memory.current" : "memory.usage_in_bytes");
        s.memory_limit = limit(v2 ? "memory.max" : "memory.limit_in_bytes");
        s.memory_rss = memory_stat(stat, v2 ? "anon" : "rss");
        s.memory_cache = memory_stat(stat, v2 ? "file" : "cache");
        auto inactive_file = memory_stat(stat, "inactive_file");
        s.page_faults = memory_stat(stat, "pgfault");
        s.major_page_faults = memory_stat(stat, "pgmajfault");
        s.oom_kills = value_of(key_values(v2 ? "memory.events" : "memory.oom_control"), "oom_kill");
        // What the kubelet and cAdvisor call the working set: usage less inactive page cache.
        if (s.memory_usage && inactive_file)
            s.memory_working_set = *s.memory_usage > *inactive_file ? *s.memory_usage - *inactive_file : 0;
    }

    void cpu(CgroupStats& s) {
        const auto* m = files_.mount_of("cpu");
        if (!m || !open(*m)) return;
        auto stat = key_values("cpu.stat");
        s.cpu_periods = value_of(stat, "nr_periods");
        s.cpu_throttled_periods = value_of(stat, "nr_throttled");
        if (m->v2) {
            if (auto us = value_of(stat, "throttled_usec")) s.cpu_throttled_ns = *us * 1000;
        } else {
            s.cpu_throttled_ns = value_of(stat, "throttled_time");
        }
    }

    void io(CgroupStats& s) {
        const auto* m = files_.mount_of(files_.mount_of("blkio") ? "blkio" : "io");
        if (!m || !open(*m)) return;
        if (m->v2) {
            auto text = read("io.stat");
            if (!text) return;
            auto stat = parse_io_stat(*text, dir_ + "/io.stat", problems_);
            // An empty io.stat is a cgroup that has done no block I/O yet.
            s.io_read_bytes = value_of(stat, "rbytes").value_or(0);
            s.io_write_bytes = value_of(stat, "wbytes").value_or(0);
            s.io_read_ops = value_of(stat, "rios").value_or(0);
            s.io_write_ops = value_of(stat, "wios").value_or(0);
            return;
        }
        if (auto text = read("blkio.throttle.io_service_bytes")) {
            auto bytes = parse_blkio(*text, dir_ + "/blkio.throttle.io_service_bytes", problems_);
            s.io_read_bytes = value_of(bytes, "Read").value_or(0);
            s.io_write_bytes = value_of(bytes, "Write").value_or(0);
        }
        if (auto text = read("blkio.throttle.io_serviced")) {
            auto ops = parse_blkio(*text, dir_ + "/blkio.throttle.io_serviced", problems_);
            s.io_read_ops = value_of(ops, "Read").value_or(0);
            s.io_write_ops = value_of(ops, "Write").value_or(0);
        }
    }

    void pressure(CgroupStats& s) {
        const auto* m = files_.unified();
        if (!m || !open(*m)) return;
        auto p = read_pressure_stalls(dir_, problems_);
        s.cpu_partial_stall_ns = p.cpu_partial_ns;
        s.memory_partial_stall_ns = p.memory_partial_ns;
        s.memory_full_stall_ns = p.memory_full_ns;
        s.io_partial_stall_ns = p.io_partial_ns;
        s.io_full_stall_ns = p.io_full_ns;
    }

    void pids(CgroupStats& s) {
        const auto* m = files_.mount_of("pids");
        if (!m || !open(*m)) return;
        s.pids = single("pids.current");
        s.pids_limit = limit("pids.max");
    }

private:
    bool open(const containers::CgroupMount& m) {
        dir_ = CgroupFiles::directory(m, cgroup_path_);
        return !dir_.empty();
    }

    // The file's text; nullopt when it is not there (that controller or file does not exist here).
    std::optional<std::string> read(const std::string& file) const {
        auto text = read_file_text(dir_ + "/" + file);
        if (text.empty()) return std::nullopt;
        return text;
    }

    std::map<std::string, double> key_values(const std::string& file) {
        auto text = read(file);
        return text ? parse_key_values(*text, dir_ + "/" + file, problems_) : std::map<std::string, double>{};
    }

    std::optional<double> single(const std::string& file) {
        auto text = read(file);
        if (!text) return std::nullopt;
        auto w = words(*text);
        auto v = w.size() == 1 ? number(w[0]) : std::nullopt;
        if (!v) problems_.push_back(malformed(dir_ + "/" + file, 1, text->substr(0, text->find('\n'))));
        return v;
    }

    std::optional<double> limit(const std::string& file) {
        auto text = read(file);
        return text ? parse_limit(*text, dir_ + "/" + file, problems_) : std::nullopt;
    }

    const CgroupFiles& files_;
    const std::string& cgroup_path_;
    std::vector<std::string>& problems_;
    std::string dir_;
};

}  // namespace

std::map<std::string, double> parse_key_values(const std::string& text, const std::string& path,
                                               std::vector<std::string>& problems) {
    std::map<std::string, double> out;
    for_each_line(text, path, problems, [&](const std::vector<std::string>& w) {
        auto v = w.size() == 2 ? number(w[1]) : std::nullopt;
        if (v) out[w[0]] = *v;
        return v.has_value();
    });
    return out;
}

std::map<std::string, double> parse_io_stat(const std::string& text, const std::string& path,
                                            std::vector<std::string>& problems) {
    std::map<std::string, double> out;
    for_each_line(text, path, problems, [&](const std::vector<std::string>& w) {
        if (w[0].find(':') == std::string::npos) return false;
        std::map<std::string, double> device;  // counted only when the whole line is good
        for (size_t i = 1; i < w.size(); ++i) {
            auto eq = w[i].find('=');
            auto v = eq == std::string::npos ? std::nullopt : number(std::string_view(w[i]).substr(eq + 1));
            if (!v) return false;
            device[w[i].substr(0, eq)] = *v;
        }
        for (const auto& [key, v] : device) out[key] += v;
        return true;
    });
    return out;
}

std::map<std::string, double> parse_blkio(const std::string& text, const std::string& path,
                                          std::vector<std::string>& problems) {
    std::map<std::string, double> out;
    for_each_line(text, path, problems, [&](const std::vector<std::string>& w) {
        if (w[0] == "Total") return w.size() == 2 && number(w[1]).has_value();
        auto v = w.size() == 3 && w[0].find(':') != std::string::npos ? number(w[2]) : std::nullopt;
        if (v) out[w[1]] += *v;
        return v.has_value();
    });
    return out;
}

std::map<std::string, double> parse_pressure(const std::string& text, const std::string& path,
                                             std::vector<std::string>& problems) {
    std::map<std::string, double> out;
    for_each_line(text, path, problems, [&](const std::vector<std::string>& w) {
        if (w[0] != "some" && w[0] != "full") return false;
        for (size_t i = 1; i < w.size(); ++i)
            if (w[i].compare(0, 6, "total=") == 0)
                if (auto v = number(std::string_view(w[i]).substr(6))) {
                    out[w[0]] = *v;
                    return true;
                }
        return false;
    });
    return out;
}

PressureStalls read_pressure_stalls(const std::string& dir, std::vector<std::string>& problems) {
    auto totals = [&](const char* file) {
        const std::string path = dir + "/" + file;
        auto text = read_file_text(path);  // ("" where the file is not there: no lines)
        return parse_pressure(text, path, problems);
    };
    auto ns = [](const std::map<std::string, double>& t, const char* kind) -> std::optional<double> {
        auto v = value_of(t, kind);
        return v ? std::optional<double>(*v * 1000) : std::nullopt;
    };
    auto cpu = totals("cpu.pressure"), memory = totals("memory.pressure"), io = totals("io.pressure");
    return {ns(cpu, "some"), ns(memory, "some"), ns(memory, "full"), ns(io, "some"), ns(io, "full")};
}

std::optional<double> parse_limit(const std::string& text, const std::string& path, std::vector<std::string>& problems) {
    auto w = words(text);
    if (w.size() == 1 && w[0] == "max") return std::nullopt;
    auto v = w.size() == 1 ? number(w[0]) : std::nullopt;
    if (!v) {
        problems.push_back(malformed(path, 1, text.substr(0, text.find('\n'))));
        return std::nullopt;
    }
    if (*v >= kNoLimitAbove) return std::nullopt;
    return v;
}

const containers::CgroupMount* CgroupFiles::mount_of(const std::string& controller) const {
    if (const auto* m = layout_.v1_controller(controller)) return m;
    if (controller == "blkio") return nullptr;  // v2 calls it "io": asked for by that name
    return layout_.unified();
}

std::string CgroupFiles::directory(const containers::CgroupMount& mount, const std::string& cgroup_path) {
    std::string root = mount.root == "/" ? "" : mount.root;
    if (cgroup_path.compare(0, root.size(), root) != 0) return "";
    std::string rest = cgroup_path.substr(root.size());
    if (!rest.empty() && rest[0] != '/') return "";  // /docker/ab is not under /docker/a
    return mount.mount_point + rest;
}

CgroupStats read_cgroup_stats(const CgroupFiles& files, const std::string& cgroup_path,
                              std::vector<std::string>& problems) {
    CgroupStats s;
    StatsReader reader(files, cgroup_path, problems);
    reader.memory(s);
    reader.cpu(s);
    reader.io(s);
    reader.pids(s);
    reader.pressure(s);
    return s;
}

}  // namespace tracer::collectors
