#include "probes/bpf_maps.h"

#include "probes/bpf_support.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace tracer::probes {

MappedArray map_array(int fd, size_t bytes, const std::string& what) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    bytes = (bytes + page - 1) / page * page;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) throw_libbpf_error("cannot map " + what, -errno);
    return {static_cast<uint8_t*>(mem), [bytes](uint8_t* p) { munmap(p, bytes); }};
}

CountingSlots::CountingSlots(int slots_fd, int free_fd, int counts_fd, uint32_t slots, int ncpus,
                             size_t slot_bytes, const char* what)
    : slots_fd_(slots_fd), free_fd_(free_fd), slots_(slots), ncpus_(ncpus), slot_bytes_(slot_bytes) {
    if (!slots) return;
    for (uint32_t slot = 0; slot < slots; ++slot)
        if (bpf_map_update_elem(free_fd, nullptr, &slot, 0) != 0)
            throw_libbpf_error(std::string("cannot queue the free slots of ") + what, -errno);
    mem_ = map_array(counts_fd, size_t(ncpus) * slots * slot_bytes, what);
}

uint32_t CountingSlots::fitting(uint64_t budget_bytes, size_t slot_bytes, int ncpus, uint32_t min_slots,
                               uint32_t max_slots) {
    const uint64_t per_slot = uint64_t(std::max(ncpus, 1)) * slot_bytes;
    return uint32_t(std::clamp<uint64_t>(budget_bytes / per_slot, min_slots, max_slots));
}

std::vector<std::pair<uint64_t, uint32_t>> CountingSlots::held() const {
    std::vector<std::pair<uint64_t, uint32_t>> out;
    if (!slots_) return out;
    for (uint64_t cgroup : map_keys<uint64_t>(slots_fd_)) {
        uint32_t slot;
        if (bpf_map_lookup_elem(slots_fd_, &cgroup, &slot) == 0 && slot < slots_) out.emplace_back(cgroup, slot);
    }
    return out;
}

std::optional<uint32_t> CountingSlots::slot_of(uint64_t cgroup) const {
    uint32_t slot;
    if (!slots_ || bpf_map_lookup_elem(slots_fd_, &cgroup, &slot) != 0) return std::nullopt;
    return slot;
}

void CountingSlots::release(const std::vector<uint64_t>& cgroups,
                            const std::function<void(const std::vector<uint32_t>&)>& invalidate) {
    if (!slots_) return;
    std::vector<uint32_t> freed;
    for (uint64_t cgroup : cgroups) {
        uint32_t slot;
        if (bpf_map_lookup_elem(slots_fd_, &cgroup, &slot) != 0) continue;
        if (bpf_map_delete_elem(slots_fd_, &cgroup) == 0 && slot < slots_) freed.push_back(slot);
    }
    if (freed.empty()) return;
    invalidate(freed);  // orders itself before the zeroing below
    // A run that took a freed slot as valid before the invalidation may still
    // add to it: it ends before this wait does, or its count would land in
    // the next holder's zeroed row. (Where the wait proves nothing, as
    // before: such a run lasts well under a microsecond.)
    (void)wait_for_bpf_runs();
    for (uint32_t slot : freed) {
        for (int cpu = 0; cpu < ncpus_; ++cpu) std::memset(const_cast<void*>(at(cpu, slot)), 0, slot_bytes_);
        bpf_map_update_elem(free_fd_, nullptr, &slot, 0);
    }
}

EventRing::EventRing(int map_fd, const char* what) : fd_(map_fd), what_(what) {
    ring_buffer* rb = ring_buffer__new(map_fd, &EventRing::on_sample, this, nullptr);
    if (!rb) throw_libbpf_error(std::string("cannot map ") + what, errno);
    ring_ = {rb, ring_buffer__free};
}

int EventRing::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<EventRing*>(ctx);
    try {
        if ((*self->handler_)(data, size)) ++self->delivered_;
    } catch (...) {
        self->error_ = std::current_exception();  // never unwind through libbpf's C frames
        return -1;
    }
    return 0;
}

size_t EventRing::drain(const Handler& handler) {
    handler_ = &handler;
    delivered_ = 0;
    int n = ring_buffer__consume(ring_.get());
    handler_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (n < 0) throw_libbpf_error(std::string("cannot read ") + what_, n);
    return delivered_;
}

bool EventRing::wait(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) throw_libbpf_error(std::string("cannot wait on ") + what_, errno);
    return n > 0 && (p.revents & POLLIN);
}

}  // namespace tracer::probes
