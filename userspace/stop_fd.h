// An eventfd that becomes readable once a stop is requested: a thread that
// sleeps in poll() puts it next to its other fds and wakes for either.
#pragma once

#include "unique_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <stop_token>
#include <utility>

namespace tracer {

class StopFd {
public:
    // When eventfd fails the object is false, get() is -1 and errno says
    // why: the caller then has to look at its stop token now and then.
    explicit StopFd(std::stop_token stop)
        : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), on_stop_(std::move(stop), Signal{fd_.get()}) {}

    int get() const { return fd_.get(); }
    explicit operator bool() const { return bool(fd_); }

private:
    struct Signal {
        int fd;
        void operator()() const noexcept {
            if (fd < 0) return;
            const uint64_t one = 1;
            ssize_t written = ::write(fd, &one, sizeof one);
            (void)written;  // one write to a fresh eventfd cannot fail or block
        }
    };
    UniqueFd fd_;  // (first: the callback that writes to it goes before it)
    std::stop_callback<Signal> on_stop_;
};

}  // namespace tracer
