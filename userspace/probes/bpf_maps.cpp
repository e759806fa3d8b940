#include "probes/bpf_maps.h"

#include "probes/bpf_support.h"

#include <bpf/libbpf.h>
#include <poll.h>

#include <cerrno>
#include <string>
#include <utility>

namespace tracer::probes {

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
