// The BPF features that differ between Linux 5.8 and the newest kernels,
// probed once at start-up, and the path tracer takes for each. `tracer run`
// logs them; `tracer version --features` prints them.
#pragma once

#include <string>
#include <vector>

struct bpf_map;

namespace tracer::probes {

struct KernelFeatures {
    std::string release;       // uname -r
    bool version_ok = false;   // >= 5.8
    bool kernel_btf = false;   // /sys/kernel/btf/vmlinux readable (CONFIG_DEBUG_INFO_BTF=y)
    std::string btf_file;      // the BTF that CO-RE relocates against ("" = none usable)
    std::string btf_error;     // why there is none (names CONFIG_DEBUG_INFO_BTF and --btf)
    bool ring_buffer = false;  // BPF_MAP_TYPE_RINGBUF (5.8): process events
    bool task_storage = false; // BPF_MAP_TYPE_TASK_STORAGE (5.11)
    bool tp_btf = false;       // BTF-typed tracepoints: btf_trace_sched_switch in the kernel's BTF (5.5)
    // Where sched_switch's prev_state argument sits among the arguments after
    // `preempt`: 0 = absent (before 5.18: prev, next), 3 = appended (5.18+:
    // prev, next, prev_state), -1 = unknown (no BTF) or an unexpected layout.
    int sched_switch_prev_state = -1;
    bool task_state_renamed = false;  // task_struct.__state (5.14+) instead of .state
    bool btf_types_read = false;      // the two above come from BTF (false: no BTF to read)
    // Tracing programs may use hash maps that allocate entries as they are
    // inserted (BPF_F_NO_PREALLOC): the BPF memory allocator, 6.1+ (struct
    // bpf_mem_alloc in the kernel's BTF; the release number without it).
    bool lazy_hash_maps = false;
};

// `map` (a hash) allocates its entries as they are inserted where the kernel
// lets tracing programs use such maps (lazy_hash_maps): its memory then grows
// with the cgroups seen instead of max_entries x value x CPUs up front.
void allocate_lazily_where_supported(::bpf_map* map);

// Probes this kernel. `btf_path` is the --btf file ("" = the kernel's own).
// Never throws: what cannot be probed reads as absent.
KernelFeatures probe_kernel_features(const std::string& btf_path);

// The probe of the running kernel with its own BTF, done once per process.
const KernelFeatures& kernel_features();

// The 5.11+ build (tp_btf, task storage, BTF-typed loads) applies: the kernel
// exposes its BTF, has task storage and BTF-typed tracepoints.
bool modern_build_applies(const KernelFeatures& f);

// One line per feature: "name: what the kernel has -> the path tracer takes".
std::vector<std::string> describe_features(const KernelFeatures& f);

}  // namespace tracer::probes
