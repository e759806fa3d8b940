// Loads bpf/net.bpf.c (embedded skeleton): TCP tracepoints (tp_btf) plus
// cgroup_skb ingress/egress programs attached to the root of the cgroup2
// hierarchy. Reads its per-CPU per-cgroup network totals and hands out closed
// TCP connections (when asked to emit them). Destroying the probe detaches
// every program; nothing is pinned.
#pragma once

#include "bpf/net.h"
#include "containers/cgroup_layout.h"
#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"  // ProbeVariant, skipped_runs

#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tracer::probes {

struct NetProbeOptions {
    containers::CgroupKeying keying;
    std::string cgroup2_root;          // where cgroup2 is mounted: the cgroup_skb programs attach here
    uint32_t map_entries = 16384;      // cgroups with totals
    uint32_t ring_bytes = 256 * 1024;  // closed-connection ring (only with emit_events)
    bool emit_events = false;          // closed TCP connections into the ring (tracer trace)
    std::string btf_path;              // external BTF ("" = the kernel's)
    ProbeVariant variant = ProbeVariant::Auto;
    // Counting slots (see bpf/net.bpf.c): cgroups whose packets count without
    // a hash lookup; the rest count in the hash, as exactly. 0: none.
    uint32_t fast_slots = 1024;
    // TCP settles (see bpf/net.bpf.c): an established connection's bytes and
    // packets are charged from its own counters each time it has sent this
    // many more segments (a power of two), and at its close. 0: every packet
    // is counted at the packet hooks.
    uint32_t tcp_settle_segments = 1u << NET_DEFAULT_SETTLE_SHIFT;
    // Tests only: the state program ignores every SYN_RECV and ESTABLISHED, as
    // if the kernel had skipped those runs (what the probe recovers from:
    // "Missed transitions" in bpf/net.bpf.c).
    bool fault_skip_established = false;
    // Tests only: the state program ignores every CLOSE, as if those runs had
    // been skipped (made up for when the socket is destroyed).
    bool fault_skip_close = false;
};

// Sums over CPUs of one cgroup's entry, since the entry was created: the
// kernel's struct, every field a u64 counter.
struct NetReading {
    uint64_t cgroup_id = 0;
    net_stats totals{};
};

// A TCP connection that was open and closed.
struct NetConnection {
    uint64_t cgroup_id = 0;
    uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC, at close
    uint64_t lifetime_ns = 0;   // ESTABLISHED -> CLOSE
    uint64_t tx_bytes = 0, rx_bytes = 0;
    uint32_t srtt_us = 0;  // 0: never measured
    uint32_t tgid = 0;     // the owner: connecting task, or the listener's for an accepted connection
    bool inbound = false;
    std::string comm;
    std::string local, remote;  // "10.0.0.1:80", "[fd00::1]:80"
};

class NetProbe {
public:
    // Opens, loads and attaches. Throws ProbeError with a clear message.
    explicit NetProbe(const NetProbeOptions& options);
    ~NetProbe();
    NetProbe(const NetProbe&) = delete;
    NetProbe& operator=(const NetProbe&) = delete;

    // Every cgroup's totals (replacing `out`).
    void read(std::vector<NetReading>& out);
    // Deletes the totals of cgroups that no longer exist (after their last read).
    void forget_cgroups(const std::vector<uint64_t>& cgroup_ids);

    // Closed connections (emit_events only): hands every one available now to
    // `sink`, without blocking; returns how many.
    size_t drain(const std::function<void(const NetConnection&)>& sink);
    // Blocks up to `timeout_ms` until connections are waiting (none wake the
    // consumer: they are drained on a timer). True if some are.
    bool wait(int timeout_ms);

    // Every failure since load, by enum net_drop_reason.
    std::array<uint64_t, NET_DROP_REASONS> drops() const;
    // Runs of each of this probe's programs the kernel skipped (see probes::skipped_runs).
    std::vector<std::pair<std::string, uint64_t>> skipped_runs() const { return probes::skipped_runs(obj_); }

    // The counting slot of a cgroup, if it holds one (tests).
    std::optional<uint32_t> fast_slot_of(uint64_t cgroup_id) const { return fast_.slot_of(cgroup_id); }

    const char* variant_description() const { return "tp_btf + socket storage + cgroup_skb, Linux 5.11+"; }
    // "tp_btf/inet_sock_set_state, cgroup_skb/ingress on /sys/fs/cgroup/unified, ..." for the log.
    const std::vector<std::string>& attached() const { return attached_; }

private:
    std::unique_ptr<void, void (*)(void*)> skel_{nullptr, nullptr};  // owns the skeleton
    bpf_object* obj_ = nullptr;
    std::optional<EventRing> ring_;                                   // freed first
    int stats_fd_ = -1, drops_fd_ = -1, events_fd_ = -1, slot_gens_fd_ = -1;
    CountingSlots fast_;  // net_counts: [cpu][slot] net_fast
    int ncpus_;
    std::vector<std::string> attached_;
    std::vector<net_stats> percpu_;  // scratch for one lookup
};

// "10.0.0.1:80" / "[fd00::1]:80" from an address in network order.
std::string format_endpoint(uint16_t family, const uint8_t addr[16], uint16_t port);

}  // namespace tracer::probes
