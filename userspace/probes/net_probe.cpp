#include "probes/net_probe.h"

#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"
#include "log.h"
#include "net_modern.skel.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace tracer::probes {
namespace {

static_assert(sizeof(net_stats) % sizeof(uint64_t) == 0, "net_stats is all u64 counters");
static_assert(offsetof(net_stats, rx_bytes) == offsetof(net_fast, rx_bytes) &&
                  offsetof(net_stats, tx_bytes) == offsetof(net_fast, tx_bytes) &&
                  offsetof(net_stats, rx_packets) == offsetof(net_fast, rx_packets) &&
                  offsetof(net_stats, tx_packets) == offsetof(net_fast, tx_packets),
              "net_stats starts with net_fast's fields (bpf/net.bpf.c adds to either)");
constexpr size_t kCounters = sizeof(net_stats) / sizeof(uint64_t);

void add_counters(net_stats& into, const net_stats& v) {
    uint64_t a[kCounters], b[kCounters];
    std::memcpy(a, &into, sizeof a);
    std::memcpy(b, &v, sizeof b);
    for (size_t i = 0; i < kCounters; ++i) a[i] += b[i];
    std::memcpy(&into, a, sizeof a);
}

}  // namespace

std::string format_endpoint(uint16_t family, const uint8_t addr[16], uint16_t port) {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (family == AF_INET6) {
        inet_ntop(AF_INET6, addr, buf, sizeof buf);
        std::string out = "[";
        out.append(buf).append("]:").append(std::to_string(port));
        return out;
    }
    inet_ntop(AF_INET, addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port);
}

NetProbe::NetProbe(const NetProbeOptions& o) {
    install_libbpf_logging();
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) throw_libbpf_error("cannot count possible CPUs", ncpus_);
    percpu_.resize(ncpus_);
    // Socket storage from tracing programs is 5.11+ (as task storage): the
    // 5.8 baseline build has no way to remember a socket's owner.
    if (o.variant == ProbeVariant::Baseline || !modern_build_applies(kernel_features()))
        throw ProbeError(
            "the network probe needs the Linux 5.11+ build (socket-local storage from tp_btf programs, to "
            "charge softirq-time packets, retransmits and resets to the socket's owner; see tracer version "
            "--features)");
    if (o.cgroup2_root.empty())
        throw ProbeError(
            "no cgroup2 hierarchy is mounted: the network probe's cgroup_skb programs attach to its root "
            "(mount it, e.g. mount -t cgroup2 none /sys/fs/cgroup/unified)");

    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!o.btf_path.empty()) open_opts.btf_custom_path = o.btf_path.c_str();
    net_modern_bpf* skel = net_modern_bpf::open(&open_opts);
    if (!skel) throw_libbpf_error("cannot open the net BPF object", errno);
    std::unique_ptr<void, void (*)(void*)> owner(skel, [](void* p) { net_modern_bpf::destroy(static_cast<net_modern_bpf*>(p)); });

    skel->rodata->cgroup_key_mode = o.keying.mode;
    skel->rodata->cgroup_v1_subsys_id = o.keying.v1_subsys_id;
    skel->rodata->emit_events = o.emit_events;
    if (o.tcp_settle_segments & (o.tcp_settle_segments - 1))
        throw std::invalid_argument("tcp_settle_segments must be 0 or a power of two");
    skel->rodata->settle_tcp = o.tcp_settle_segments > 0;
    skel->rodata->fault_skip_established = o.fault_skip_established;
    skel->rodata->fault_skip_close = o.fault_skip_close;
    skel->rodata->settle_shift = o.tcp_settle_segments ? uint32_t(std::countr_zero(o.tcp_settle_segments)) : 0;
    // Packet programs (ingress, egress): the default settle interval has its
    // own pair, with it as a constant; any other setting loads the pair that
    // reads it. Only the chosen pair is loaded.
    using PacketPrograms = std::array<std::pair<bpf_program*, bpf_link**>, 2>;
    auto& p = skel->progs;
    auto& l = skel->links;
    const PacketPrograms pairs[] = {
        {{{p.tracer_net_ingress, &l.tracer_net_ingress}, {p.tracer_net_egress, &l.tracer_net_egress}}},
        {{{p.tracer_net_ingress_configured, &l.tracer_net_ingress_configured},
          {p.tracer_net_egress_configured, &l.tracer_net_egress_configured}}}};
    const PacketPrograms& packet_programs = pairs[o.tcp_settle_segments == 1u << NET_DEFAULT_SETTLE_SHIFT ? 0 : 1];
    for (const PacketPrograms& pair : pairs)
        for (auto [prog, link] : pair) bpf_program__set_autoload(prog, &pair == &packet_programs);
    bpf_map__set_max_entries(skel->maps.net_stats, std::max<uint32_t>(o.map_entries, 64));
    allocate_lazily_where_supported(skel->maps.net_stats);
    bpf_map__set_max_entries(skel->maps.net_events, ring_buffer_size(o.emit_events ? o.ring_bytes : 4096));
    const uint32_t slots = o.fast_slots;
    skel->rodata->fast_slots = slots;
    skel->rodata->fast_cpus = uint32_t(ncpus_);
    bpf_map__set_max_entries(skel->maps.net_counts, std::max<uint32_t>(1, slots * uint32_t(ncpus_)));
    bpf_map__set_max_entries(skel->maps.net_slot_gens, std::max<uint32_t>(1, slots));
    bpf_map__set_max_entries(skel->maps.net_slots, std::max<uint32_t>(1, slots));
    bpf_map__set_max_entries(skel->maps.net_free_slots, std::max<uint32_t>(1, slots));
    if (int err = net_modern_bpf::load(skel)) throw_libbpf_error("cannot load the net BPF programs", err);
    // Generations start at 1: a socket entry not yet given a slot (zeroed) matches none.
    slot_gens_fd_ = bpf_map__fd(skel->maps.net_slot_gens);
    for (uint32_t slot = 0; slot < slots; ++slot) {
        const uint64_t gen = 1;
        if (bpf_map_update_elem(slot_gens_fd_, &slot, &gen, 0) != 0)
            throw_libbpf_error("cannot set up the net counting slots", -errno);
    }
    fast_ = CountingSlots(bpf_map__fd(skel->maps.net_slots), bpf_map__fd(skel->maps.net_free_slots),
                          bpf_map__fd(skel->maps.net_counts), slots, ncpus_, sizeof(net_fast),
                          "the net count array");
    if (int err = net_modern_bpf::attach(skel))
        throw_libbpf_error("cannot attach the net BPF programs to the sock and tcp tracepoints", err);

    int cg = open(o.cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0)
        throw ProbeError("cannot open the cgroup2 root " + o.cgroup2_root + ": " + std::strerror(errno));
    for (auto [prog, link] : packet_programs) {
        *link = bpf_program__attach_cgroup(prog, cg);  // freed by the skeleton
        if (!*link) {
            int err = errno;
            close(cg);
            throw_libbpf_error("cannot attach cgroup_skb programs to " + o.cgroup2_root, err);
        }
    }
    close(cg);

    stats_fd_ = bpf_map__fd(skel->maps.net_stats);
    drops_fd_ = bpf_map__fd(skel->maps.net_drops);
    events_fd_ = bpf_map__fd(skel->maps.net_events);
    ring_.emplace(events_fd_, "the net event ring buffer");
    obj_ = skel->obj;
    skel_ = std::move(owner);
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (!bpf_program__autoload(prog)) continue;
        std::string name = bpf_program__section_name(prog);
        if (name.starts_with("cgroup_skb/")) name += " on " + o.cgroup2_root;
        attached_.push_back(name);
    }
}

// ring_ is declared after skel_, so it is freed (unmapped) before the maps close.
NetProbe::~NetProbe() = default;

void NetProbe::read(std::vector<NetReading>& out) {
    out.clear();
    for_each_percpu_entry<uint64_t>(stats_fd_, percpu_, [&](uint64_t key, const auto& per_cpu) {
        NetReading r;
        r.cgroup_id = key;
        for (const auto& v : per_cpu) add_counters(r.totals, v);
        out.push_back(r);
    });
    // and the cgroups holding a counting slot
    fast_.add_held_rows<net_fast>(out, [](NetReading& r, const net_fast& f) {
        r.totals.rx_bytes += f.rx_bytes;
        r.totals.tx_bytes += f.tx_bytes;
        r.totals.rx_packets += f.rx_packets;
        r.totals.tx_packets += f.tx_packets;
    });
}

void NetProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    for (uint64_t id : cgroup_ids) bpf_map_delete_elem(stats_fd_, &id);  // ENOENT (never seen) is fine
    // sockets that outlive their cgroup count in net_stats again (new generation)
    fast_.release(cgroup_ids, [this](const std::vector<uint32_t>& slots) {
        for (uint32_t slot : slots) {
            uint64_t gen = 0;
            bpf_map_lookup_elem(slot_gens_fd_, &slot, &gen);
            gen += 1;
            bpf_map_update_elem(slot_gens_fd_, &slot, &gen, 0);
        }
    });
}

size_t NetProbe::drain(const std::function<void(const NetConnection&)>& sink) {
    return ring_->drain([&](const void* data, size_t size) {
        net_conn_event e;
        if (size < sizeof e) return false;
        std::memcpy(&e, data, sizeof e);
        NetConnection c;
        c.cgroup_id = e.cgroup_key;
        c.timestamp_ns = e.timestamp_ns;
        c.lifetime_ns = e.lifetime_ns;
        c.tx_bytes = e.tx_bytes;
        c.rx_bytes = e.rx_bytes;
        c.srtt_us = e.srtt_us;
        c.tgid = e.tgid;
        c.inbound = e.direction == NET_DIR_INBOUND;
        c.comm = std::string(e.comm, strnlen(e.comm, sizeof e.comm));
        c.local = format_endpoint(e.family, e.laddr, e.lport);
        c.remote = format_endpoint(e.family, e.raddr, e.rport);
        sink(c);
        return true;
    });
}

bool NetProbe::wait(int timeout_ms) { return ring_->wait(timeout_ms); }

std::array<uint64_t, NET_DROP_REASONS> NetProbe::drops() const {
    return sum_drop_counters<NET_DROP_REASONS>(drops_fd_, ncpus_);
}

}  // namespace tracer::probes
