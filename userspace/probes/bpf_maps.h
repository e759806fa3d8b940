// Reading tracer's BPF maps from userspace: walks of per-CPU hashes (summed by
// the caller), the per-CPU drop counters every area keeps, and the ring
// buffers that carry events. One copy for every probe.
#pragma once

#include <bpf/bpf.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

struct ring_buffer;

namespace tracer::probes {

// Calls fn(key, per_cpu_values) for every key of the per-CPU hash `fd`;
// `scratch` holds one value per possible CPU. Keys deleted during the walk
// are skipped.
template <class Key, class Value, class Fn>
void for_each_percpu_entry(int fd, std::vector<Value>& scratch, Fn&& fn) {
    Key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if (bpf_map_lookup_elem(fd, &key, scratch.data()) != 0) continue;  // deleted meanwhile
        fn(key, static_cast<const std::vector<Value>&>(scratch));
    }
}

// Every key of the hash `fd`.
template <class Key>
std::vector<Key> map_keys(int fd) {
    std::vector<Key> keys;
    Key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        keys.push_back(key);
    }
    return keys;
}

// Deletes the entries of `fd` whose key's cgroup (cgroup_of(key)) is in `cgroup_ids`.
template <class Key, class CgroupOf>
void forget_cgroup_keys(int fd, const std::vector<uint64_t>& cgroup_ids, CgroupOf&& cgroup_of) {
    if (cgroup_ids.empty()) return;
    std::unordered_set<uint64_t> dead(cgroup_ids.begin(), cgroup_ids.end());
    std::vector<Key> doomed;
    for (const Key& k : map_keys<Key>(fd))
        if (dead.count(cgroup_of(k))) doomed.push_back(k);
    for (const Key& k : doomed) bpf_map_delete_elem(fd, &k);
}

// The per-CPU drop counters (DROP_COUNTERS in bpf/maps.bpf.h), summed over CPUs.
template <size_t Reasons>
std::array<uint64_t, Reasons> sum_drop_counters(int fd, int ncpus) {
    std::array<uint64_t, Reasons> total{};
    std::vector<uint64_t> values(static_cast<size_t>(ncpus));
    for (uint32_t reason = 0; reason < Reasons; ++reason) {
        if (bpf_map_lookup_elem(fd, &reason, values.data()) != 0) continue;
        for (uint64_t v : values) total[reason] += v;
    }
    return total;
}

// The values of the BPF_F_MMAPABLE array `fd` (`bytes` of them, rounded up to
// whole pages), mapped read-write; unmapped with the pointer. Throws
// ProbeError naming `what`.
using MappedArray = std::unique_ptr<uint8_t, std::function<void(uint8_t*)>>;
MappedArray map_array(int fd, size_t bytes, const std::string& what);

// Counting slots (bpf/syscalls.bpf.c, bpf/net.bpf.c): the cgroups that count
// in a plain array, `slot_bytes` per CPU and slot, laid out [cpu][slot],
// instead of in a per-CPU hash (a lookup per event). BPF takes a slot from
// the queue `free_fd` the first time it sees a cgroup and records it in the
// hash `slots_fd` (cgroup key -> slot); userspace reads the array through a
// mapping (`counts_fd` is BPF_F_MMAPABLE) and hands slots back.
class CountingSlots {
public:
    CountingSlots() = default;
    // Queues every slot as free and maps the array. Throws ProbeError.
    CountingSlots(int slots_fd, int free_fd, int counts_fd, uint32_t slots, int ncpus, size_t slot_bytes,
                  const char* what);

    // As many slots as `budget_bytes` hold at `slot_bytes` per CPU and slot,
    // within [min_slots, max_slots].
    static uint32_t fitting(uint64_t budget_bytes, size_t slot_bytes, int ncpus, uint32_t min_slots,
                            uint32_t max_slots);

    uint32_t size() const { return slots_; }
    // (cgroup key, slot) of every cgroup that holds one now.
    std::vector<std::pair<uint64_t, uint32_t>> held() const;
    std::optional<uint32_t> slot_of(uint64_t cgroup) const;
    // The counts of `slot` on `cpu`, as BPF writes them.
    const void* at(int cpu, uint32_t slot) const { return mem_.get() + (size_t(cpu) * slots_ + slot) * slot_bytes_; }
    // Adds the slot rows of every cgroup holding a slot into `out`, one
    // Reading (with a cgroup_id) per cgroup, found there or appended:
    // add(reading, row) for each CPU's row. Row is all u64 counters, laid out
    // as BPF writes them; each is copied word by word with relaxed atomic
    // loads, as BPF adds to them meanwhile.
    template <class Row, class Reading, class Add>
    void add_held_rows(std::vector<Reading>& out, Add&& add) const {
        static_assert(sizeof(Row) % sizeof(uint64_t) == 0, "a slot row is all u64 counters");
        std::unordered_map<uint64_t, size_t> index;
        for (size_t i = 0; i < out.size(); ++i) index[out[i].cgroup_id] = i;
        for (auto [cgroup, slot] : held()) {
            auto [it, fresh] = index.try_emplace(cgroup, out.size());
            if (fresh) out.push_back(Reading{cgroup, {}});
            for (int cpu = 0; cpu < ncpus_; ++cpu) {
                const auto* words = static_cast<const uint64_t*>(at(cpu, slot));
                uint64_t copy[sizeof(Row) / sizeof(uint64_t)];
                for (size_t i = 0; i < sizeof(Row) / sizeof(uint64_t); ++i)
                    copy[i] = __atomic_load_n(&words[i], __ATOMIC_RELAXED);
                Row row;
                std::memcpy(&row, copy, sizeof row);
                add(out[it->second], row);
            }
        }
    }
    // Takes the slots of `cgroups` (removed, after their last read) from
    // them; `invalidate` tells BPF to stop using those slots before they are
    // zeroed and queued again (a bpf() call, or a seq_cst read-modify-write
    // of a variable BPF reads: nothing after it moves before it), and the
    // zeroing waits for the BPF runs that began before it (wait_for_bpf_runs:
    // microseconds to milliseconds, once per call).
    void release(const std::vector<uint64_t>& cgroups,
                 const std::function<void(const std::vector<uint32_t>&)>& invalidate);

private:
    int slots_fd_ = -1, free_fd_ = -1;
    uint32_t slots_ = 0;
    int ncpus_ = 0;
    size_t slot_bytes_ = 0;
    MappedArray mem_;
};

// A BPF ring buffer read without blocking: drain() hands every record
// waiting now to a handler; wait() polls for more.
class EventRing {
public:
    // Returns true when the record was delivered (counted by drain()); may throw.
    using Handler = std::function<bool(const void* data, size_t size)>;

    // Maps the ring of `map_fd`; `what` names it in errors ("the proc event ring buffer").
    EventRing(int map_fd, const char* what);
    EventRing(const EventRing&) = delete;  // libbpf holds `this`
    EventRing& operator=(const EventRing&) = delete;

    int fd() const { return fd_; }
    // Every record available now, to `handler`; returns how many it delivered.
    // An exception from `handler` stops the drain (that record is consumed)
    // and is rethrown here. Throws ProbeError when the ring cannot be read.
    size_t drain(const Handler& handler);
    // Blocks up to `timeout_ms` until records are waiting (poll(): it sees
    // records submitted without a wake-up, epoll would not). Consumes nothing.
    bool wait(int timeout_ms);

private:
    static int on_sample(void* ctx, void* data, size_t size);

    std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> ring_{nullptr, nullptr};
    int fd_ = -1;
    const char* what_ = "";
    const Handler* handler_ = nullptr;  // during drain()
    size_t delivered_ = 0;
    std::exception_ptr error_;
};

}  // namespace tracer::probes
