#include "api/event_json.h"

#include <time.h>

namespace tracer::api {
namespace {

// The kernel stamps events with CLOCK_MONOTONIC; the API speaks wall-clock milliseconds.
int64_t unix_ms_of_monotonic(uint64_t monotonic_ns) {
    timespec mono{}, wall{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t now_mono = int64_t(mono.tv_sec) * 1000000000 + mono.tv_nsec;
    int64_t now_wall = int64_t(wall.tv_sec) * 1000000000 + wall.tv_nsec;
    return (now_wall - (now_mono - int64_t(monotonic_ns))) / 1000000;
}

}  // namespace

nlohmann::json process_event_json(const probes::ProcEvent& e) {
    nlohmann::json j = {{"pid", e.tgid}, {"comm", e.comm}};
    if (e.timestamp_ns) j["time_unix_ms"] = unix_ms_of_monotonic(e.timestamp_ns);
    switch (e.kind) {
    case probes::ProcEventKind::Exec:
        j["kind"] = "exec";
        j["filename"] = e.filename;
        break;
    case probes::ProcEventKind::Fork:
        j["kind"] = "fork";
        j["ppid"] = e.ppid;
        break;
    case probes::ProcEventKind::Exit:
        j["kind"] = "exit";
        j["exit_code"] = e.exit_code;
        j["lifetime_seconds"] = double(e.lifetime_ns) / 1e9;
        break;
    case probes::ProcEventKind::Oom:
        j["kind"] = "oom_kill";
        j["total_vm_bytes"] = e.oom_total_vm_pages * 4096;
        j["trigger_pid"] = e.oom_trigger_tgid;
        break;
    }
    return j;
}

nlohmann::json connection_event_json(const probes::NetConnection& c) {
    nlohmann::json j = {{"kind", "tcp_close"},
            {"pid", c.tgid},
            {"comm", c.comm},
            {"direction", c.inbound ? "inbound" : "outbound"},
            {"local", c.local},
            {"remote", c.remote},
            {"rx_bytes", c.rx_bytes},
            {"tx_bytes", c.tx_bytes},
            {"lifetime_seconds", double(c.lifetime_ns) / 1e9},
            {"rtt_seconds", double(c.srtt_us) / 1e6}};
    if (c.timestamp_ns) j["time_unix_ms"] = unix_ms_of_monotonic(c.timestamp_ns);
    return j;
}

}  // namespace tracer::api
