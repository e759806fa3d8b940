// `tracer top`'s view of an agent through the local API: its snapshots, its
// recent events and the facts of its header.
#pragma once

#include "api/local_api_client.h"
#include "top/view_model.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <string>
#include <vector>

namespace tracer::top {

// GET /v1/snapshot as a TimedSnapshot. Throws like LocalApiClient::get.
TimedSnapshot fetch_snapshot(const api::LocalApiClient& client);

// What the header shows, from /v1/status.
struct AgentFacts {
    std::string version;
    std::string kernel;             // release
    std::string probes;             // "syscalls sched proc net" (attached ones)
    size_t probes_attached = 0, probes_failed = 0;
    std::string cgroup_mount;       // the keyed hierarchy, as seen from here
    std::string proc_root = "/proc";
    std::string host_prefix;        // where the host's / is, as seen from here ("" = /)
    std::vector<std::string> api_events;
    double interval_seconds = 0;
    double drops = 0;               // ring buffer drops + failed map updates
};
AgentFacts agent_facts(const nlohmann::json& status);
// Re-reads only the counters of a later /v1/status.
double drops_of(const nlohmann::json& status);

// The agent's recent events, fetched incrementally (since the last seen).
class EventLog {
public:
    explicit EventLog(size_t capacity = 2000) : capacity_(capacity) {}
    // Fetches what is new; false (and nothing changes) when the API fails.
    bool poll(const api::LocalApiClient& client);
    // The newest `limit` events of these cgroups (or sub-cgroups), newest first.
    std::vector<nlohmann::json> of(const std::vector<std::string>& cgroups, size_t limit) const;
    const std::deque<nlohmann::json>& all() const { return events_; }

private:
    size_t capacity_;
    uint64_t next_ = 0;
    std::deque<nlohmann::json> events_;
};

// A closed connection's peer, summed over the events of one row.
struct TcpPeer {
    std::string remote;
    size_t connections = 0;
    double rx_bytes = 0, tx_bytes = 0;
    double rtt_seconds_avg = 0;
};
std::vector<TcpPeer> tcp_peers(const std::vector<nlohmann::json>& events);

}  // namespace tracer::top
