#include "api/local_api_client.h"
#include "cli/commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tracer::cli {

CLI::App* add_status_command(CLI::App& app, StatusFlags& f) {
    if (const char* env = std::getenv("TRACER_API_SOCKET"); env && *env) f.socket = env;
    auto* status = app.add_subcommand("status", "The running agent's health: version, uptime, kernel, probes, each "
                                                "source, drops. Exit 0 healthy, 1 degraded, 2 no agent");
    status->add_option("--socket", f.socket, "The agent's local API socket (config key api_socket)")
        ->capture_default_str();
    status->add_option("--format", f.format, "text or json")->capture_default_str()->check(CLI::IsMember({"text", "json"}));
    return status;
}

namespace {

using nlohmann::json;

std::string duration(double seconds) {
    long s = long(seconds);
    char buf[64];
    if (s >= 86400) std::snprintf(buf, sizeof buf, "%ldd%02ldh%02ldm", s / 86400, s / 3600 % 24, s / 60 % 60);
    else if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%lds", s);
    return buf;
}

std::string number(const json& v) {
    if (!v.is_number()) return v.dump();
    double d = v.get<double>();
    char buf[32];
    std::snprintf(buf, sizeof buf, d == std::floor(d) && std::fabs(d) < 1e15 ? "%.0f" : "%g", d);
    return buf;
}

// "a 1, b 2" from {"a":1,"b":2}.
std::string pairs(const json& obj) {
    std::string out;
    if (obj.is_object())
        for (const auto& [k, v] : obj.items()) out += (out.empty() ? "" : ", ") + k + " " + number(v);
    return out.empty() ? "(none)" : out;
}

void print_text(const json& s, size_t down) {
    std::printf("tracer %s, pid %s, up %s, interval %ss, snapshots published %s\n", s.value("version", "?").c_str(),
                number(s.value("pid", json())).c_str(), duration(s.value("uptime_seconds", 0.0)).c_str(),
                number(s.value("interval_seconds", json())).c_str(), number(s.value("snapshots_published", json())).c_str());
    if (auto k = s.find("kernel"); k != s.end()) {
        std::printf("kernel %s\n", k->value("release", "?").c_str());
        if (auto f = k->find("features"); f != k->end())
            for (const auto& line : *f) std::printf("  %s\n", line.get<std::string>().c_str());
    }
    if (auto c = s.find("cgroup"); c != s.end()) std::printf("cgroups: %s\n", c->value("keying", "").c_str());
    std::printf("probes:\n");
    if (auto p = s.find("probes"); p != s.end())
        for (const auto& [name, probe] : p->items()) {
            if (probe.contains("error")) {
                std::printf("  %-10s NOT ATTACHED: %s\n", name.c_str(), probe.value("error", "").c_str());
                continue;
            }
            std::string attached;
            for (const auto& a : probe.value("attached", json::array())) attached += (attached.empty() ? "" : ", ") + a.get<std::string>();
            std::printf("  %-10s %s (%s)\n", name.c_str(), attached.c_str(), probe.value("build", "").c_str());
        }
    std::printf("sources:\n");
    for (const auto& src : s.value("sources", json::array()))
        std::printf("  %-4s %-24s %s\n", src.value("up", false) ? "up" : "DOWN",
                    (src.value("source", "") + "/" + src.value("name", "")).c_str(), src.value("detail", "").c_str());
    if (auto c = s.find("counters"); c != s.end()) {
        std::printf("counters:\n");
        std::printf("  map update failures: %s\n", pairs(c->value("map_update_failures", json::object())).c_str());
        std::printf("  events dropped:      %s\n", pairs(c->value("events_dropped", json::object())).c_str());
        // Only the programs the kernel skipped: a zero per program says less than "none".
        json runs = c->value("runs_skipped", json::object()), skipped = json::object();
        if (runs.is_object())
            for (const auto& [prog, n] : runs.items())
                if (!n.is_number() || n.get<double>() != 0) skipped[prog] = n;
        std::printf("  BPF runs skipped:    %s\n",
                    skipped.empty() ? ("none (" + std::to_string(runs.size()) + " programs)").c_str()
                                    : pairs(skipped).c_str());
        if (c->contains("net_unattributed")) std::printf("  net unattributed:    %s\n", number((*c)["net_unattributed"]).c_str());
        if (auto st = c->find("statsd"); st != c->end() && !st->empty())
            std::printf("  statsd:              %s\n", pairs(*st).c_str());
        if (auto sinks = c->find("sinks"); sinks != c->end())
            for (const auto& [name, sink] : sinks->items()) {
                std::string dropped;
                if (auto d = sink.find("dropped_batches"); d != sink.end()) dropped = pairs(*d);
                std::printf("  sink %s: queued %s batches, spooled %s batches (%s bytes), sent %s, failed requests %s%s%s\n",
                            name.c_str(), number(sink.value("queued_batches", json(0))).c_str(),
                            number(sink.value("spooled_batches", json(0))).c_str(),
                            number(sink.value("spooled_bytes", json(0))).c_str(),
                            number(sink.value("sent_batches", json(0))).c_str(),
                            number(sink.value("failed_requests", json(0))).c_str(), dropped.empty() ? "" : ", dropped ",
                            dropped.c_str());
            }
    }
    if (down == 0) std::printf("status: healthy\n");
    else std::printf("status: degraded (%zu part%s down)\n", down, down == 1 ? "" : "s");
}

}  // namespace

int status_command(const StatusFlags& f) {
    json status;
    try {
        status = api::LocalApiClient(f.socket, std::chrono::seconds(5)).get("/v1/status");
    } catch (const api::NoAgentError& e) {
        std::fprintf(stderr, "tracer status: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer status: cannot read the agent: %s\n", e.what());
        return 2;
    }
    size_t down = 0;
    for (const auto& src : status.value("sources", json::array()))
        if (!src.value("up", false)) ++down;
    status["status"] = down == 0 ? "healthy" : "degraded";
    if (f.format == "json")
        std::printf("%s\n", status.dump(2).c_str());
    else
        print_text(status, down);
    return down == 0 ? 0 : 1;
}

}  // namespace tracer::cli
