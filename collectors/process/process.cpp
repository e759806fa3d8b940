// process: the processes named, whose command line matches, or of a pid or
// pid file, from /proc (under the host root). Names, keys and defaults follow
// Datadog's process check (system.processes.*, process.up).
#include "collectors/process/process.h"

#include "collectors/file_text.h"
#include "collectors/instance_keys.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <optional>
#include <string_view>
#include <sstream>

namespace tracer::collectors {
namespace {

// `thresholds: {warning: [min, max], critical: [min, max]}`: how many
// processes process.up accepts; absent, at least one.
struct Bounds {
    double min = 1, max = std::numeric_limits<double>::infinity();
    bool holds(double n) const { return n >= min && n <= max; }
};

Bounds bounds_of(const InstanceConfig& cfg, const YAML::Node& node, const std::string& which) {
    Bounds b;
    const YAML::Node range = node[which];
    if (!range.IsDefined()) return b;
    const std::string expected = "'thresholds': '" + which + "' must be [min, max], two numbers with min <= max";
    if (!range.IsSequence() || range.size() != 2) throw instance_error(cfg, expected, range);
    try {
        b.min = range[0].as<double>();
        b.max = range[1].as<double>();
    } catch (const YAML::Exception&) {
        throw instance_error(cfg, expected, range);
    }
    if (!(b.min <= b.max)) throw instance_error(cfg, expected, range);
    return b;
}

// What psutil calls a process's name, as Datadog's check compares it: its
// comm, which the kernel cuts at 15 bytes, completed from argv[0] when that
// names the same program.
std::string process_name(std::string comm, const std::string& argv0) {
    if (comm.size() >= 15) {
        const std::string base = argv0.substr(argv0.rfind('/') == std::string::npos ? 0 : argv0.rfind('/') + 1);
        if (base.rfind(comm, 0) == 0) comm = base;
    }
    return comm;
}

// The uid of user `name` in the passwd file at `path`; nullopt if it has none.
std::optional<uid_t> uid_of(const std::string& path, const std::string& name) {
    const std::string text = read_file_text(path);
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + at, end - at);
        at = end + 1;
        // name:password:uid:...
        const size_t c1 = line.find(':'), c2 = line.find(':', c1 + 1), c3 = line.find(':', c2 + 1);
        if (c1 == std::string_view::npos || c3 == std::string_view::npos || line.substr(0, c1) != name) continue;
        uid_t uid = 0;
        const auto digits = line.substr(c2 + 1, c3 - c2 - 1);
        if (std::from_chars(digits.data(), digits.data() + digits.size(), uid).ec == std::errc()) return uid;
    }
    return std::nullopt;
}

// A process as the search compares it: its id, name (process_name) and
// command line (arguments joined by spaces).
struct ProcEntry {
    std::string pid, name, cmdline;
};

// Every process under `proc`, read once for the instances that run together:
// a list younger than kShareFor is handed to an instance that has not had it
// yet instead of a scan of its own (the runner starts the instances of one
// interval at the same tick, so ten instances read /proc once); an instance
// never gets the same list twice. Concurrent callers wait for one scan. Short
// enough that a run beginning later than that sees every process started
// before it began.
constexpr auto kShareFor = std::chrono::milliseconds(100);

std::shared_ptr<const std::vector<ProcEntry>> process_list(const std::string& proc, const void* instance) {
    static std::mutex mu;
    static std::string cached_proc;
    static std::chrono::steady_clock::time_point cached_at;
    static std::shared_ptr<const std::vector<ProcEntry>> cached;
    static std::set<const void*> given;  // the instances that had `cached`
    std::lock_guard lock(mu);
    const auto now = std::chrono::steady_clock::now();
    if (cached && cached_proc == proc && now - cached_at < kShareFor && given.insert(instance).second) return cached;
    auto list = std::make_shared<std::vector<ProcEntry>>();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(proc, ec)) {
        std::string pid = entry.path().filename().string();
        if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
        const std::string base = proc + "/" + pid;
        std::string comm = read_file_text(base + "/comm");
        if (!comm.empty() && comm.back() == '\n') comm.pop_back();
        if (comm.empty()) continue;  // gone meanwhile
        std::string cmdline = read_file_text(base + "/cmdline");
        const std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
        for (auto& c : cmdline)
            if (c == '\0') c = ' ';
        while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
        list->push_back({std::move(pid), process_name(std::move(comm), argv0), std::move(cmdline)});
    }
    if (ec) throw std::runtime_error("cannot read " + proc + ": " + ec.message());
    cached_proc = proc;
    cached_at = now;
    cached = std::move(list);
    given = {instance};
    return cached;
}

// The real uid of process `pid` ("Uid:" in its status); nullopt if it is gone.
std::optional<uid_t> real_uid(const std::string& proc_pid) {
    const std::string status = read_file_text(proc_pid + "/status");
    const size_t at = status.find("\nUid:");
    if (at == std::string::npos) return std::nullopt;
    const char* p = status.c_str() + at + 5;
    while (*p == '\t' || *p == ' ') ++p;
    uid_t uid = 0;
    if (std::from_chars(p, status.c_str() + status.size(), uid).ec != std::errc()) return std::nullopt;
    return uid;
}

class ProcessCheck : public Check {
public:
    explicit ProcessCheck(const InstanceConfig& cfg)
        : name_(required_string_key(cfg, "name")),
          pid_(number_key(cfg, "pid", 0, 1, 4194304)),
          pid_file_(string_key(cfg, "pid_file")),
          user_(string_key(cfg, "user")),
          root_(cfg.host_root.empty() || cfg.host_root == "/" ? "" : cfg.host_root),
          proc_(root_ + "/proc") {
        // names with exact_match (compared, never compiled: "c++" is a name), else patterns
        if (bool_key(cfg, "exact_match", true))
            names_ = string_list_key(cfg, "search_string");
        else
            patterns_ = pattern_list_key(cfg, "search_string");
        const int ways = !(names_.empty() && patterns_.empty()) + (pid_ > 0) + !pid_file_.empty();
        if (ways != 1) throw instance_error(cfg, "set exactly one of 'search_string', 'pid' and 'pid_file'");
        if (auto t = instance_value(cfg, "thresholds"); t.IsDefined()) {
            if (!t.IsMap()) throw instance_error(cfg, "'thresholds' must be a map of 'warning' and 'critical'", t);
            for (const auto& kv : t)
                if (auto k = kv.first.as<std::string>(); k != "warning" && k != "critical")
                    throw instance_error(cfg, "'thresholds': unknown key '" + k + "' (warning, critical)", kv.first);
            warning_ = bounds_of(cfg, t, "warning");
            critical_ = bounds_of(cfg, t, "critical");
        }
    }

    // as Datadog's process check names it
    std::string status_check() const override { return "process.up"; }

    void run(CheckRun& out) override {
        static const double ticks = double(sysconf(_SC_CLK_TCK));
        static const double page = double(sysconf(_SC_PAGESIZE));
        double count = 0, rss = 0, vms = 0, threads = 0, fds = 0, cpu_seconds = 0, read_bytes = 0, write_bytes = 0;
        // `user`: the host's users (its passwd under the host root), looked up every run
        std::optional<uid_t> uid;
        if (!user_.empty() && !(uid = uid_of(root_ + "/etc/passwd", user_)))
            throw std::runtime_error("no user '" + user_ + "' in " + root_ + "/etc/passwd");
        for (const std::string& pid : pids()) {
            const std::string base = proc_ + "/" + pid;
            if (uid && real_uid(base) != uid) continue;
            std::string stat = read_file_text(base + "/stat");
            auto close = stat.rfind(')');
            if (close == std::string::npos) continue;  // gone meanwhile
            std::istringstream fields(stat.substr(close + 2));
            std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
            if (f.size() < 22) continue;
            ++count;
            cpu_seconds += (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime
            threads += std::stod(f[17]);
            vms += std::stod(f[20]);
            rss += std::stod(f[21]) * page;
            std::error_code ec;
            for (const auto& fd : std::filesystem::directory_iterator(base + "/fd", ec)) {
                (void)fd;
                ++fds;
            }
            std::istringstream io(read_file_text(base + "/io"));
            std::string key;
            double value = 0;
            while (io >> key >> value) {
                if (key == "read_bytes:") read_bytes += value;
                if (key == "write_bytes:") write_bytes += value;
            }
        }
        metrics::Labels tags{{"process_name", name_}};
        out.gauge("system.processes.number", count, tags);
        out.gauge("system.processes.mem.rss", rss, tags, "bytes");
        out.gauge("system.processes.mem.vms", vms, tags, "bytes");
        out.gauge("system.processes.threads", threads, tags);
        out.gauge("system.processes.open_file_descriptors", fds, tags);
        out.rate("system.processes.cpu.pct", cpu_seconds * 100, tags);
        out.rate("system.processes.ioread_bytes", read_bytes, tags);
        out.rate("system.processes.iowrite_bytes", write_bytes, tags);
        out.monotonic_count("system.processes.ioread_bytes_count", read_bytes, tags, "bytes");
        out.monotonic_count("system.processes.iowrite_bytes_count", write_bytes, tags, "bytes");
        const CheckStatus status = !critical_.holds(count)  ? CheckStatus::Critical
                                   : !warning_.holds(count) ? CheckStatus::Warning
                                                            : CheckStatus::Ok;
        const char* word = status == CheckStatus::Ok ? "OK" : status == CheckStatus::Warning ? "WARNING" : "CRITICAL";
        out.service_check(status_check(), status,
                          "PROCS " + std::string(word) + ": " + std::to_string(int(count)) + " processes found for " +
                              name_);
    }

private:
    // The ids of the processes this instance watches: the one of `pid` or of
    // `pid_file` when it is running, else every process search_string matches.
    std::vector<std::string> pids() const {
        if (pid_ > 0 || !pid_file_.empty()) {
            std::string pid = pid_ > 0 ? std::to_string(int(pid_)) : read_file_text(pid_file_);
            auto digits_end = std::find_if(pid.begin(), pid.end(), [](unsigned char c) { return !std::isdigit(c); });
            pid.erase(digits_end, pid.end());
            // a missing file or a process not running: none (process.up says so)
            if (pid.empty() || access((proc_ + "/" + pid).c_str(), F_OK) != 0) return {};
            return {pid};
        }
        std::vector<std::string> out;
        for (const ProcEntry& p : *process_list(proc_, this))
            if (matches(p.name, p.cmdline)) out.push_back(p.pid);
        return out;
    }

    bool matches(const std::string& name, const std::string& cmdline) const {
        return std::any_of(names_.begin(), names_.end(), [&](const std::string& n) { return name == n; }) ||
               std::any_of(patterns_.begin(), patterns_.end(), [&](const Pattern& p) { return p.search(cmdline); });
    }

    std::string name_;
    double pid_;
    std::string pid_file_;
    std::string user_;
    std::string root_, proc_;
    std::vector<std::string> names_;
    std::vector<Pattern> patterns_;
    Bounds warning_, critical_;
};

}  // namespace

PluginInfo process_plugin() {
    return {"process", "Processes by name, regex, pid or pid file: count, CPU, memory, threads, open files, I/O",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<ProcessCheck>(cfg); },
            {"name", "search_string", "exact_match", "pid", "pid_file", "thresholds", "user"}};
}

}  // namespace tracer::collectors
