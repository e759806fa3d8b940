#include "agent/net_collector.h"

#include "agent/host_context.h"
#include "agent/kernel_area.h"
#include "agent/log2_histogram.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace tracer::agent {

void NetCollector::read(std::vector<uint64_t>& keys) {
    kernel_.read(readings_);
    for (const auto& r : readings_) keys.push_back(r.cgroup_id);
}

void NetCollector::accumulate(CgroupDirectory& directory, std::chrono::duration<double>) {
    // Every field of net_stats is a monotonic u64 counter.
    constexpr size_t n = sizeof(net_stats) / sizeof(uint64_t);
    table_.accumulate(readings_, directory, [](net_stats& acc, const net_stats& now, const net_stats& before) {
        uint64_t a[n], x[n], b[n];
        std::memcpy(a, &acc, sizeof a);
        std::memcpy(x, &now, sizeof x);
        std::memcpy(b, &before, sizeof b);
        for (size_t i = 0; i < n; ++i) a[i] += counter_delta(x[i], b[i]);
        std::memcpy(&acc, a, sizeof a);
    });
}

void NetCollector::forget(const std::vector<uint64_t>& keys) {
    kernel_.forget(keys);
    table_.forget(keys);
}

void NetCollector::append_families(metrics::Snapshot& out) const {
    using metrics::MetricType;
    metrics::Family bytes{"tracer.net.bytes", "bytes",
                          "IP bytes (headers included) the cgroup's sockets received (rx) and sent (tx).",
                          MetricType::Counter, {}};
    metrics::Family packets{"tracer.net.packets", "", "IP packets the cgroup's sockets received (rx) and sent (tx).",
                            MetricType::Counter, {}};
    metrics::Family opened{"tracer.tcp.connections.opened", "",
                           "TCP connections established: inbound (accepted) or outbound (connected).",
                           MetricType::Counter, {}};
    metrics::Family closed{"tracer.tcp.connections.closed", "", "Established TCP connections that closed.",
                           MetricType::Counter, {}};
    metrics::Family open{"tracer.tcp.connections.open", "",
                         "TCP connections established since tracer started and not closed yet.", MetricType::Gauge,
                         {}};
    metrics::Family retransmits{"tracer.tcp.retransmits", "", "TCP segments the cgroup's sockets retransmitted.",
                                MetricType::Counter, {}};
    metrics::Family resets{"tracer.tcp.resets", "", "TCP resets the cgroup's sockets sent and received.",
                           MetricType::Counter, {}};
    metrics::Family conn_bytes{"tracer.tcp.connection.bytes", "bytes",
                               "Payload bytes of the closed TCP connections, each way (sent: acknowledged by the "
                               "peer).",
                               MetricType::Counter, {}};
    metrics::Family rtt{"tracer.tcp.rtt", "seconds", "Smoothed RTT of each closed TCP connection, at close.",
                        MetricType::Histogram, {}};
    metrics::Family duration{"tracer.tcp.connection.duration", "seconds",
                             "Lifetime of each closed TCP connection (established to closed).", MetricType::Histogram,
                             {}};
    auto histogram = [](const __u64 (&slots)[NET_SLOTS], uint64_t total_ns) {
        std::array<uint64_t, NET_SLOTS> s;
        std::copy(std::begin(slots), std::end(slots), s.begin());
        return seconds_histogram_from_log2_ns(s, total_ns);
    };
    auto with = [](const std::string& cgroup, const char* name, const char* value) {
        return metrics::Labels{{"cgroup", cgroup}, {name, value}};
    };
    for (const auto& [cgroup, entry] : table_.by_label()) {
        const net_stats& t = entry.totals;
        metrics::Labels labels{{"cgroup", cgroup}};
        bytes.samples.push_back({with(cgroup, "direction", "rx"), double(t.rx_bytes), {}});
        bytes.samples.push_back({with(cgroup, "direction", "tx"), double(t.tx_bytes), {}});
        packets.samples.push_back({with(cgroup, "direction", "rx"), double(t.rx_packets), {}});
        packets.samples.push_back({with(cgroup, "direction", "tx"), double(t.tx_packets), {}});
        opened.samples.push_back({with(cgroup, "direction", "inbound"), double(t.opened_inbound), {}});
        opened.samples.push_back({with(cgroup, "direction", "outbound"), double(t.opened_outbound), {}});
        closed.samples.push_back({labels, double(t.closed), {}});
        uint64_t opens = t.opened_inbound + t.opened_outbound;
        open.samples.push_back({labels, opens > t.closed ? double(opens - t.closed) : 0.0, {}});
        retransmits.samples.push_back({labels, double(t.retransmits), {}});
        resets.samples.push_back({with(cgroup, "direction", "sent"), double(t.resets_sent), {}});
        resets.samples.push_back({with(cgroup, "direction", "received"), double(t.resets_received), {}});
        conn_bytes.samples.push_back({with(cgroup, "direction", "rx"), double(t.closed_rx_bytes), {}});
        conn_bytes.samples.push_back({with(cgroup, "direction", "tx"), double(t.closed_tx_bytes), {}});
        rtt.samples.push_back({labels, 0, histogram(t.rtt_slots, t.rtt_total_ns)});
        duration.samples.push_back({labels, 0, histogram(t.lifetime_slots, t.lifetime_total_ns)});
    }
    for (auto* f : {&bytes, &packets, &opened, &closed, &open, &retransmits, &resets, &conn_bytes, &rtt, &duration})
        out.push_back(std::move(*f));
}

namespace {

class NetArea : public ProbeArea<probes::NetProbe, NetCollector> {
public:
    NetArea(std::unique_ptr<probes::NetProbe> probe, std::function<void(const probes::NetConnection&)> consumer)
        : ProbeArea(std::move(probe)), consumer_(std::move(consumer)) {}
    // Closed connections cross the ring only when a consumer asked for them.
    void drain_events() override {
        if (consumer_) probe_->drain(consumer_);
    }
    // Closed connections cross without a wake-up: drained on the timer.
    EventWake event_wake() const override { return {-1, consumer_ != nullptr}; }
    void drops(AreaDrops& out) const override {
        auto d = probe_->drops();
        out.map_failures.emplace_back("net_stats", d[NET_DROP_STATS_FULL]);
        out.map_failures.emplace_back("net_socks", d[NET_DROP_SOCK_STORAGE]);
        out.ring_drops.emplace_back("net_events", d[NET_DROP_RINGBUF_FULL]);
    }
    void append_self_metrics(metrics::Snapshot& out) const override {
        metrics::Family unattributed{"tracer.net.unattributed", "",
                                     "Packets and TCP events of sockets with no known owner (see docs/metrics.md).",
                                     metrics::MetricType::Counter, {}};
        unattributed.samples.push_back({{}, double(probe_->drops()[NET_DROP_UNATTRIBUTED]), {}});
        out.push_back(std::move(unattributed));
    }

private:
    std::function<void(const probes::NetConnection&)> consumer_;
};

}  // namespace

std::unique_ptr<LoadedArea> load_net_area(const AreaSetup& setup) {
    probes::NetProbeOptions o;
    o.keying = setup.host.keying();
    o.cgroup2_root = setup.host.cgroup2_root();
    o.map_entries = setup.config.net.map_entries;
    o.tcp_settle_segments = setup.config.net.tcp_settle_segments;
    o.btf_path = setup.btf_path;
    o.variant = setup.variant();
    const auto& kinds = setup.config.api_events;
    o.emit_events = setup.events.connection && std::find(kinds.begin(), kinds.end(), "tcp") != kinds.end();
    return std::make_unique<NetArea>(std::make_unique<probes::NetProbe>(o),
                                     o.emit_events ? setup.events.connection : nullptr);
}

}  // namespace tracer::agent
