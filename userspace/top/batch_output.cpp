#include "top/batch_output.h"

#include "top/format.h"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace tracer::top {
namespace {

nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }
nlohmann::json optional_number(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

// The share of the interval stalled, in percent, or null without PSI.
nlohmann::json pressure_json(const std::optional<Pressure>& p) {
    if (!p) return nullptr;
    return {{"cpu_some_percent", p->cpu_some * 100},       {"memory_some_percent", p->memory_some * 100},
            {"memory_full_percent", p->memory_full * 100}, {"io_some_percent", p->io_some * 100},
            {"io_full_percent", p->io_full * 100}};
}

std::string header_line(const TopSession& s) {
    const auto& f = s.facts();
    return "tracer top - " + s.hostname() + " - kernel " + f.kernel + " - tracer " + f.version + " - " +
           (s.standalone() ? "standalone (probes in-process)" : "agent " + s.socket_path()) + " - probes " +
           std::to_string(f.probes_attached) + " (" + f.probes + ") - drops " + human_count(f.drops);
}

}  // namespace

std::string batch_text(const TopSession& s, const ViewOptions& view) {
    std::string out = header_line(s) + "\n";
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-32s %7s %6s %8s %8s %8s %8s %-14s %8s %8s %7s %6s %8s %6s\n", "NAME", "CPU%",
                  "THR%", "RQ-P99", "CSW/s", "SYSC/s", "ERR/s", "TOP-SYSCALL", "RX/s", "TX/s", "RETR/s", "CONN", "MEM",
                  "PIDS");
    out += buf;
    bool rates = s.model().has_rates();
    auto rate = [&](double v) { return rates ? human_count(v) : std::string("-"); };
    for (const auto& r : s.model().rows(view)) {
        std::string name = r.name.size() > 32 ? r.name.substr(0, 31) + "~" : r.name;
        std::snprintf(buf, sizeof buf, "%-32s %7s %6s %8s %8s %8s %8s %-14s %8s %8s %7s %6s %8s %6s\n", name.c_str(),
                      rates ? percent(r.cpu_percent).c_str() : "-", percent(r.throttled_percent).c_str(),
                      human_seconds(r.runq_p99_seconds).c_str(),
                      rate(r.usage.context_switches_per_s).c_str(), rate(r.usage.syscalls_per_s).c_str(),
                      rate(r.usage.syscall_errors_per_s).c_str(), r.top_syscall.empty() ? "-" : r.top_syscall.c_str(),
                      rates ? human_bytes(r.usage.rx_bytes_per_s).c_str() : "-",
                      rates ? human_bytes(r.usage.tx_bytes_per_s).c_str() : "-", rate(r.usage.retransmits_per_s).c_str(),
                      human_count(r.usage.open_connections).c_str(), human_bytes(r.memory_bytes).c_str(),
                      r.pids ? human_count(*r.pids).c_str() : "-");
        out += buf;
    }
    return out;
}

nlohmann::json batch_json(const TopSession& s, const ViewOptions& view) {
    const auto& f = s.facts();
    nlohmann::json rows = nlohmann::json::array();
    bool rates = s.model().has_rates();
    for (const auto& r : s.model().rows(view)) {
        auto rate = [&](double v) { return rates ? nlohmann::json(v) : nlohmann::json(nullptr); };
        rows.push_back({{"key", r.key},
                        {"name", r.name},
                        {"image", r.image},
                        {"pod", r.pod},
                        {"namespace", r.kube_namespace},
                        {"container", r.is_container},
                        {"cgroups", r.cgroups},
                        {"cpu_percent", rate(r.cpu_percent)},
                        {"cpu_limit_cores", optional_number(r.cpu_limit)},
                        {"throttled_percent", number_or_null(r.throttled_percent)},
                        {"throttled_seconds_per_s", number_or_null(r.throttled_seconds_per_s)},
                        {"pressure", pressure_json(r.pressure)},
                        {"runqueue_p99_seconds", number_or_null(r.runq_p99_seconds)},
                        {"context_switches_per_s", rate(r.usage.context_switches_per_s)},
                        {"syscalls_per_s", rate(r.usage.syscalls_per_s)},
                        {"syscall_errors_per_s", rate(r.usage.syscall_errors_per_s)},
                        {"top_syscall", r.top_syscall},
                        {"rx_bytes_per_s", rate(r.usage.rx_bytes_per_s)},
                        {"tx_bytes_per_s", rate(r.usage.tx_bytes_per_s)},
                        {"tcp_retransmits_per_s", rate(r.usage.retransmits_per_s)},
                        {"open_connections", r.usage.open_connections},
                        {"memory_bytes", optional_number(r.memory_bytes)},
                        {"memory_limit_bytes", optional_number(r.memory_limit)},
                        {"pids", optional_number(r.pids)}});
    }
    return {{"time_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()},
            {"host", s.hostname()},
            {"kernel", f.kernel},
            {"version", f.version},
            {"mode", s.standalone() ? "standalone" : "agent"},
            {"probes_attached", f.probes_attached},
            {"drops", f.drops},
            {"interval_seconds", s.model().interval_seconds()},
            {"rows", std::move(rows)}};
}

}  // namespace tracer::top
