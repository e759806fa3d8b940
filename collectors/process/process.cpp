// process: the processes whose command line matches, from /proc (under the
// host root). Names follow Datadog's process check (system.processes.*).
#include "collectors/process/process.h"

#include "collectors/file_text.h"
#include "collectors/instance_keys.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace tracer::collectors {
namespace {

class ProcessCheck : public Check {
public:
    explicit ProcessCheck(const InstanceConfig& cfg)
        : name_(required_string_key(cfg, "name")),
          exact_(bool_key(cfg, "exact_match", false)),
          proc_((cfg.host_root.empty() || cfg.host_root == "/" ? "" : cfg.host_root) + "/proc") {
        // names with exact_match (compared, never compiled: "c++" is a name), else patterns
        if (exact_)
            names_ = string_list_key(cfg, "search_string");
        else
            patterns_ = pattern_list_key(cfg, "search_string");
        if (names_.empty() && patterns_.empty())
            throw instance_error(cfg, "'search_string' is required (process names or regexes)");
    }

    void run(CheckRun& out) override {
        static const double ticks = double(sysconf(_SC_CLK_TCK));
        static const double page = double(sysconf(_SC_PAGESIZE));
        double count = 0, rss = 0, vms = 0, threads = 0, fds = 0, cpu_seconds = 0, read_bytes = 0, write_bytes = 0;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(proc_, ec)) {
            std::string pid = entry.path().filename().string();
            if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
            std::string base = proc_ + "/" + pid;
            std::string comm = read_file_text(base + "/comm");
            if (!comm.empty() && comm.back() == '\n') comm.pop_back();
            std::string cmdline = read_file_text(base + "/cmdline");
            for (auto& c : cmdline)
                if (c == '\0') c = ' ';
            while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
            if (comm.empty() || !matches(comm, cmdline)) continue;
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
        if (ec && count == 0) throw std::runtime_error("cannot read " + proc_ + ": " + ec.message());
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
        if (count > 0)
            out.service_check("process.can_connect", CheckStatus::Ok, std::to_string(int(count)) + " processes");
        else
            out.service_check("process.can_connect", CheckStatus::Critical, "no process matches " + name_);
    }

private:
    bool matches(const std::string& comm, const std::string& cmdline) const {
        return std::any_of(names_.begin(), names_.end(), [&](const std::string& n) { return comm == n; }) ||
               std::any_of(patterns_.begin(), patterns_.end(), [&](const Pattern& p) { return p.search(cmdline); });
    }

    std::string name_;
    bool exact_;
    std::string proc_;
    std::vector<std::string> names_;
    std::vector<Pattern> patterns_;
};

}  // namespace

PluginInfo process_plugin() {
    return {"process", "Processes by name or regex: count, CPU, memory, threads, open files, I/O",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<ProcessCheck>(cfg); },
            {"name", "search_string", "exact_match"}};
}

}  // namespace tracer::collectors
