// A sink's on-disk queue of payloads that could not be delivered yet, in
// delivery order, bounded in bytes. One directory per sink; one file per
// payload, named by a 16-hex-digit sequence number (oldest first):
//
//   <spool_dir>/<sink>/000000000000002a.payload
//     "tracer-spool 1\n"
//     "content-type: application/x-protobuf\n"
//     "content-encoding: snappy\n"
//     "path: \n"
//     "samples: 1234\n"
//     "\n"
//     <body bytes>
//
// Files are written to a ".tmp" name, fsync()ed and renamed, so a crash leaves
// either the whole payload or none; stray .tmp files are removed on open.
// Not thread-safe: owned by the sink's sender (and by stop() after it).
#pragma once

#include "forwarder/payload.h"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace tracer::forwarder {

class DiskSpool {
public:
    // Creates `dir` (and parents) if missing and indexes what a previous run
    // left. Throws std::runtime_error naming the directory when it cannot.
    DiskSpool(std::string dir, uint64_t max_bytes);

    // Appends at the end. Drops the oldest payloads while the total would
    // exceed max_bytes; returns how many were dropped (the new payload itself
    // counts when it alone is larger than max_bytes). Throws
    // std::runtime_error on a write error (disk full, permissions).
    size_t push(const Payload& p);
    // The oldest payload (read from disk), if any. An unreadable or corrupt
    // file is removed, counted in corrupt(), and skipped.
    std::optional<Payload> front();
    void pop_front();

    bool empty() const { return files_.empty(); }
    size_t size() const { return files_.size(); }
    uint64_t bytes() const { return bytes_; }
    uint64_t corrupt() const { return corrupt_; }
    const std::string& dir() const { return dir_; }

private:
    struct File {
        uint64_t seq;
        uint64_t bytes;
    };
    std::string path_of(uint64_t seq) const;
    void remove_front();

    std::string dir_;
    uint64_t max_bytes_;
    std::deque<File> files_;
    uint64_t bytes_ = 0;
    uint64_t next_seq_ = 1;
    uint64_t corrupt_ = 0;
};

}  // namespace tracer::forwarder
