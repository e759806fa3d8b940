// What loading tracer's BPF programs needs from this host, checked up front so
// a missing piece is one clear message naming the fix, not a libbpf errno.
#pragma once

#include "probes/kernel_features.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct bpf_object;

namespace tracer::probes {

// A host problem that stops a probe from loading (privileges, kernel, BTF).
class ProbeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Every bpf/<area>.bpf.c is built twice; which build a probe loads.
enum class ProbeVariant {
    Auto,      // Modern where the kernel takes it, else Baseline
    Baseline,  // Linux 5.8+: raw_tp, per-thread state in hashes, CO-RE probe reads
    Modern,    // Linux 5.11+: tp_btf, task-local storage, BTF-typed direct loads
};

// Runs `load_modern` when `wanted` is Modern, or Auto on a kernel the 5.11+
// build applies to (modern_build_applies: BTF, tp_btf, task storage);
// otherwise, or when it throws a ProbeError and Modern was not demanded,
// `load_baseline`. Returns the build that loaded. `area` names the
// probe in the log line about the fallback.
template <class LoadModern, class LoadBaseline>
ProbeVariant load_newest_build(ProbeVariant wanted, const char* area, LoadModern&& load_modern,
                               LoadBaseline&& load_baseline);

// Throws ProbeError unless the effective capabilities allow loading and
// attaching tracing programs: CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON.
void require_bpf_privileges();

// Throws ProbeError on kernels older than 5.8.
void require_kernel_version();

// Kernel BTF for CO-RE: `btf_path` if given (must exist), else
// /sys/kernel/btf/vmlinux. Throws ProbeError naming CONFIG_DEBUG_INFO_BTF / --btf.
void require_btf(const std::string& btf_path);

// `bytes` rounded up to a power-of-two number of pages, as BPF_MAP_TYPE_RINGBUF requires.
uint32_t ring_buffer_size(uint32_t bytes);
void log_fallback_to_baseline(const char* area, const ProbeError& why);

template <class LoadModern, class LoadBaseline>
ProbeVariant load_newest_build(ProbeVariant wanted, const char* area, LoadModern&& load_modern,
                               LoadBaseline&& load_baseline) {
    if (wanted == ProbeVariant::Modern || (wanted == ProbeVariant::Auto && modern_build_applies(kernel_features()))) {
        try {
            load_modern();
            return ProbeVariant::Modern;
        } catch (const ProbeError& e) {
            if (wanted == ProbeVariant::Modern) throw;
            log_fallback_to_baseline(area, e);
        }
    }
    load_baseline();
    return ProbeVariant::Baseline;
}

// Runs of each loaded program of `obj` that the kernel skipped because the
// same program was already running on that CPU (bpf_prog_info's
// recursion_misses, Linux 5.12+; 0 on older kernels). On kernels where a
// tracing program can be preempted (a preemptible kernel on recent Linux:
// seen on 7.3), another thread entering it on that CPU meanwhile is
// skipped: whatever that run would have counted is lost, so the agent
// reports these, by program name.
std::vector<std::pair<std::string, uint64_t>> skipped_runs(const ::bpf_object* obj);

// Waits until every BPF program run that began on any CPU before the call
// has ended: membarrier(MEMBARRIER_CMD_GLOBAL), which waits for an RCU grace
// period, and tracing and cgroup programs run inside an RCU read-side
// section (preempted or not). Blocks for microseconds (expedited RCU) to tens
// of milliseconds, so not where a wait would hold others up. False, with errno set,
// where it proves nothing: the kernel refuses the command (nohz_full,
// seccomp) or one CPU is online (ENOTSUP: the kernel then waits for nothing,
// and a preemptible kernel may have a run preempted on that CPU).
bool wait_for_bpf_runs();

// Routes libbpf's messages into tracer's log (debug level) and keeps the last
// lines so a failed load can show them.
void install_libbpf_logging();
std::vector<std::string> recent_libbpf_messages();

// A failed libbpf call on `what` -> ProbeError with a hint for common errnos
// and the last libbpf lines.
[[noreturn]] void throw_libbpf_error(const std::string& what, int err);

}  // namespace tracer::probes
