// system: the host's CPU, load, memory, swap, disks, filesystems and network
// interfaces from /proc and statvfs (under the host root). Names follow the
// Datadog agent's system checks (system.cpu.*, system.mem.*, system.io.*, ...).
#include "collectors/system/system.h"

#include "collectors/file_text.h"
#include "collectors/instance_keys.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

namespace tracer::collectors {
namespace {

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    return {std::istream_iterator<std::string>(in), {}};
}

// Filesystems with no storage of their own.
const std::set<std::string> kPseudo = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "bpf", "tracefs",
    "debugfs", "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs",
    "efivarfs", "selinuxfs", "overlay", "squashfs", "ramfs", "tmpfs", "fuse.lxcfs", "nfsd"};

class SystemCheck : public Check {
public:
    explicit SystemCheck(const InstanceConfig& cfg)
        : root_(cfg.host_root == "/" ? "" : cfg.host_root),
          excluded_devices_(string_list_key(cfg, "excluded_devices")) {}

    void run(CheckRun& out) override {
        cpu(out);
        load(out);
        memory(out);
        disks(out);
        filesystems(out);
        network(out);
        out.service_check("system.can_connect", CheckStatus::Ok);
    }

private:
    std::string path(const std::string& p) const { return root_ + p; }

    void cpu(CheckRun& out) {
        std::istringstream lines(read_file_text(path("/proc/stat")));
        std::string line;
        int cores = 0;
        while (std::getline(lines, line)) {
            auto w = words(line);
            if (w.empty()) continue;
            if (w[0].rfind("cpu", 0) == 0 && w[0] != "cpu") ++cores;
            if (w[0] == "ctxt" && w.size() > 1) out.rate("system.cpu.context_switches", std::stod(w[1]));
            if (w[0] != "cpu" || w.size() < 9) continue;
            static const char* names[] = {"user", "nice", "system", "idle", "iowait", "interrupt", "softirq", "stolen"};
            double total = 0;
            std::vector<double> v;
            for (size_t i = 1; i <= 8; ++i) total += (v.emplace_back(std::stod(w[i])));
            // Percent of all CPU time since the previous run: derived here from the tick deltas.
            if (!previous_cpu_.empty() && total > previous_total_) {
                double span = total - previous_total_;
                for (size_t i = 0; i < 8; ++i)
                    out.gauge(std::string("system.cpu.") + names[i], 100 * (v[i] - previous_cpu_[i]) / span, {}, "");
            }
            previous_cpu_ = v;
            previous_total_ = total;
        }
        out.gauge("system.cpu.num_cores", cores);
    }

    void load(CheckRun& out) {
        auto w = words(read_file_text(path("/proc/loadavg")));
        if (w.size() < 3) return;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        const char* names[] = {"1", "5", "15"};
        for (int i = 0; i < 3; ++i) {
            out.gauge(std::string("system.load.") + names[i], std::stod(w[i]));
            if (cores > 0) out.gauge(std::string("system.load.norm.") + names[i], std::stod(w[i]) / double(cores));
        }
    }

    void memory(CheckRun& out) {
        std::map<std::string, double> kb;
        std::istringstream lines(read_file_text(path("/proc/meminfo")));
        std::string line;
        while (std::getline(lines, line)) {
            auto w = words(line);
            if (w.size() >= 2) kb[w[0].substr(0, w[0].size() - 1)] = std::stod(w[1]) * 1024;
        }
        if (kb.empty()) throw std::runtime_error("cannot read " + path("/proc/meminfo"));
        double total = kb["MemTotal"], free = kb["MemFree"], usable = kb.count("MemAvailable") ? kb["MemAvailable"]
                                                                                                 : free + kb["Cached"];
        out.gauge("system.mem.total", total, {}, "bytes");
        out.gauge("system.mem.free", free, {}, "bytes");
        out.gauge("system.mem.used", total - free, {}, "bytes");
        out.gauge("system.mem.usable", usable, {}, "bytes");
        out.gauge("system.mem.cached", kb["Cached"], {}, "bytes");
        out.gauge("system.mem.buffered", kb["Buffers"], {}, "bytes");
        out.gauge("system.mem.shared", kb["Shmem"], {}, "bytes");
        out.gauge("system.mem.slab", kb["Slab"], {}, "bytes");
        out.gauge("system.mem.page_tables", kb["PageTables"], {}, "bytes");
        out.gauge("system.mem.commit_limit", kb["CommitLimit"], {}, "bytes");
        out.gauge("system.mem.committed_as", kb["Committed_AS"], {}, "bytes");
        if (total > 0) out.gauge("system.mem.pct_usable", usable / total);
        double swap_total = kb["SwapTotal"], swap_free = kb["SwapFree"];
        out.gauge("system.swap.total", swap_total, {}, "bytes");
        out.gauge("system.swap.free", swap_free, {}, "bytes");
        out.gauge("system.swap.used", swap_total - swap_free, {}, "bytes");
        out.gauge("system.swap.cached", kb["SwapCached"], {}, "bytes");
        if (swap_total > 0) out.gauge("system.swap.pct_free", swap_free / swap_total);
    }

    bool excluded(const std::string& device) const {
        for (const auto& e : excluded_devices_)
            if (device == e) return true;
        return false;
    }

    void disks(CheckRun& out) {
        std::istringstream lines(read_file_text(path("/proc/diskstats")));
        std::string line;
        while (std::getline(lines, line)) {
            auto w = words(line);
            if (w.size() < 14) continue;
            const std::string& dev = w[2];
            if (dev.rfind("loop", 0) == 0 || dev.rfind("ram", 0) == 0 || excluded(dev)) continue;
            metrics::Labels l{{"device", dev}};
            out.rate("system.io.r_s", std::stod(w[3]), l);
            out.rate("system.io.w_s", std::stod(w[7]), l);
            out.rate("system.io.rkb_s", std::stod(w[5]) / 2, l);  // 512-byte sectors -> KiB
            out.rate("system.io.wkb_s", std::stod(w[9]) / 2, l);
            out.rate("system.io.rrqm_s", std::stod(w[4]), l);
            out.rate("system.io.wrqm_s", std::stod(w[8]), l);
            out.rate("system.io.util", std::stod(w[12]) / 10, l);  // ms busy per s -> percent
            out.gauge("system.io.in_progress", std::stod(w[11]), l);
            out.monotonic_count("system.io.read_bytes_count", std::stod(w[5]) * 512, l, "bytes");
            out.monotonic_count("system.io.write_bytes_count", std::stod(w[9]) * 512, l, "bytes");
        }
    }

    void filesystems(CheckRun& out) {
        std::istringstream lines(read_file_text(path("/proc/self/mounts")));
        std::string line;
        std::set<std::string> seen;
        while (std::getline(lines, line)) {
            auto w = words(line);
            if (w.size() < 3 || kPseudo.count(w[2]) || excluded(w[0]) || !seen.insert(w[0]).second) continue;
            struct statvfs st {};
            if (statvfs((root_ + w[1]).c_str(), &st) != 0 || st.f_blocks == 0) continue;
            metrics::Labels l{{"device", w[0]}, {"mount_point", w[1]}, {"filesystem", w[2]}};
            double size = double(st.f_frsize);
            double total = st.f_blocks * size, free = st.f_bavail * size, used = (st.f_blocks - st.f_bfree) * size;
            out.gauge("system.disk.total", total, l, "bytes");
            out.gauge("system.disk.free", free, l, "bytes");
            out.gauge("system.disk.used", used, l, "bytes");
            if (used + free > 0) out.gauge("system.disk.in_use", used / (used + free), l);
            if (st.f_files > 0) {
                out.gauge("system.fs.inodes.total", double(st.f_files), l);
                out.gauge("system.fs.inodes.free", double(st.f_ffree), l);
                out.gauge("system.fs.inodes.used", double(st.f_files - st.f_ffree), l);
                out.gauge("system.fs.inodes.in_use", double(st.f_files - st.f_ffree) / double(st.f_files), l);
            }
        }
    }

    void network(CheckRun& out) {
        std::istringstream lines(read_file_text(path("/proc/1/net/dev")));  // the host's network namespace
        std::string line;
        while (std::getline(lines, line)) {
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            auto name = words(line.substr(0, colon));
            auto w = words(line.substr(colon + 1));
            if (name.empty() || w.size() < 16 || excluded(name[0])) continue;
            metrics::Labels l{{"device", name[0]}};
            out.rate("system.net.bytes_rcvd", std::stod(w[0]), l);
            out.rate("system.net.packets_in.count", std::stod(w[1]), l);
            out.rate("system.net.packets_in.error", std::stod(w[2]), l);
            out.rate("system.net.packets_in.drop", std::stod(w[3]), l);
            out.rate("system.net.bytes_sent", std::stod(w[8]), l);
            out.rate("system.net.packets_out.count", std::stod(w[9]), l);
            out.rate("system.net.packets_out.error", std::stod(w[10]), l);
            out.rate("system.net.packets_out.drop", std::stod(w[11]), l);
            out.monotonic_count("system.net.bytes_rcvd_count", std::stod(w[0]), l, "bytes");
            out.monotonic_count("system.net.bytes_sent_count", std::stod(w[8]), l, "bytes");
        }
    }

    std::string root_;
    std::vector<std::string> excluded_devices_;
    std::vector<double> previous_cpu_;
    double previous_total_ = 0;
};

}  // namespace

PluginInfo system_plugin() {
    return {"system", "The host: CPU, load, memory, swap, disk I/O, filesystems, network interfaces",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<SystemCheck>(cfg); },
            {"excluded_devices"}};
}

}  // namespace tracer::collectors
