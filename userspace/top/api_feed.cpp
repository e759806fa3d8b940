#include "top/api_feed.h"

#include "api/snapshot_json.h"
#include "top/cgroup_files.h"

#include <unistd.h>

#include <algorithm>
#include <map>

namespace tracer::top {

using nlohmann::json;

TimedSnapshot fetch_snapshot(const api::LocalApiClient& client) {
    json j = client.get("/v1/snapshot");
    TimedSnapshot s;
    s.families = api::snapshot_from_json(j.at("families"));
    s.sequence = j.value("sequence", uint64_t(0));
    s.monotonic_seconds = double(j.value("published_monotonic_ms", int64_t(0))) / 1000.0;
    return s;
}

double drops_of(const json& status) {
    double d = 0;
    if (auto c = status.find("counters"); c != status.end())
        for (const char* section : {"events_dropped", "map_update_failures", "runs_skipped"})
            if (auto s = c->find(section); s != c->end() && s->is_object())
                for (const auto& [k, v] : s->items())
                    if (v.is_number()) d += v.get<double>();
    return d;
}

AgentFacts agent_facts(const json& status) {
    AgentFacts f;
    f.version = status.value("version", "");
    f.interval_seconds = status.value("interval_seconds", 0.0);
    if (auto k = status.find("kernel"); k != status.end()) f.kernel = k->value("release", "");
    if (auto p = status.find("probes"); p != status.end() && p->is_object())
        for (const auto& [name, probe] : p->items()) {
            if (probe.contains("error")) {
                ++f.probes_failed;
                continue;
            }
            ++f.probes_attached;
            f.probes += (f.probes.empty() ? "" : " ") + name;
        }
    std::string host_root = status.value("host_root", "/");
    if (host_root == "/") host_root.clear();
    if (auto c = status.find("cgroup"); c != status.end()) {
        f.cgroup_mount = c->value("mount_point", "");
        // An agent in a container sees the host under host_root. tracer top
        // runs on the host, where the host is at /, or in the agent's own
        // container (kubectl exec), where the agent's paths hold as they are.
        if (!host_root.empty() && f.cgroup_mount.rfind(host_root, 0) == 0) {
            if (::access(f.cgroup_mount.c_str(), F_OK) == 0) {
                f.host_prefix = host_root;
                f.proc_root = host_root + "/proc";
            } else {
                f.cgroup_mount = f.cgroup_mount.substr(host_root.size());
            }
        }
    }
    if (auto e = status.find("api_events"); e != status.end() && e->is_array())
        f.api_events = e->get<std::vector<std::string>>();
    f.drops = drops_of(status);
    return f;
}

bool EventLog::poll(const api::LocalApiClient& client) {
    json page;
    try {
        page = client.get("/v1/events?since=" + std::to_string(next_) + "&limit=" + std::to_string(capacity_));
    } catch (const std::exception&) {
        return false;
    }
    for (auto& e : page.at("events")) {
        events_.push_back(std::move(e));
        if (events_.size() > capacity_) events_.pop_front();
    }
    next_ = page.value("next", next_);
    return true;
}

std::vector<json> EventLog::of(const std::vector<std::string>& cgroups, size_t limit) const {
    auto wanted = outermost(cgroups);
    std::vector<json> out;
    for (auto it = events_.rbegin(); it != events_.rend() && out.size() < limit; ++it) {
        std::string c = it->value("cgroup", "");
        bool inside = std::any_of(wanted.begin(), wanted.end(), [&](const std::string& p) {
            return p == "/" || c == p || (c.size() > p.size() && c.compare(0, p.size(), p) == 0 && c[p.size()] == '/');
        });
        if (inside) out.push_back(*it);
    }
    return out;
}

std::vector<TcpPeer> tcp_peers(const std::vector<json>& events) {
    std::map<std::string, TcpPeer> by_remote;
    std::map<std::string, double> rtt_sum;
    for (const auto& e : events) {
        if (e.value("kind", "") != "tcp_close") continue;
        std::string remote = e.value("remote", "");
        auto& p = by_remote[remote];
        p.remote = remote;
        ++p.connections;
        p.rx_bytes += e.value("rx_bytes", 0.0);
        p.tx_bytes += e.value("tx_bytes", 0.0);
        rtt_sum[remote] += e.value("rtt_seconds", 0.0);
    }
    std::vector<TcpPeer> out;
    for (auto& [remote, p] : by_remote) {
        p.rtt_seconds_avg = rtt_sum[remote] / double(p.connections);
        out.push_back(p);
    }
    std::sort(out.begin(), out.end(),
              [](const TcpPeer& a, const TcpPeer& b) { return a.rx_bytes + a.tx_bytes > b.rx_bytes + b.tx_bytes; });
    return out;
}

}  // namespace tracer::top
