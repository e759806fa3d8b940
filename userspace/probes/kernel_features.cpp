#include "probes/kernel_features.h"

#include "probes/bpf_support.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace tracer::probes {
namespace {

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

const btf_type* resolve_typedefs(const btf* b, const btf_type* t) {
    while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t))) t = btf__type_by_id(b, t->type);
    return t;
}

// Position of prev_state among sched_switch's arguments after `preempt`
// (see KernelFeatures), from the typedef the kernel declares for every
// BTF-typed tracepoint: void (*)(void *__data, bool preempt, args...).
int sched_switch_prev_state(const btf* b) {
    int id = btf__find_by_name_kind(b, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
    if (id <= 0) return -1;
    const btf_type* t = btf__type_by_id(b, id);
    t = t ? btf__type_by_id(b, t->type) : nullptr;  // the pointer
    t = t && btf_is_ptr(t) ? btf__type_by_id(b, t->type) : nullptr;
    if (!t || !btf_is_func_proto(t) || btf_vlen(t) < 2) return -1;
    const btf_param* args = btf_params(t) + 2;  // after __data and preempt
    const int n = btf_vlen(t) - 2;
    auto is_int = [&](int i) {
        const btf_type* a = resolve_typedefs(b, btf__type_by_id(b, args[i].type));
        return a && (btf_is_int(a) || btf_is_enum(a));
    };
    if (n == 2 && !is_int(0) && !is_int(1)) return 0;
    if (n == 3 && !is_int(0) && !is_int(1) && is_int(2)) return 3;
    return -1;
}

bool struct_has_member(const btf* b, const char* type, const char* member) {
    int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
    const btf_type* t = id > 0 ? resolve_typedefs(b, btf__type_by_id(b, id)) : nullptr;
    if (!t || !btf_is_struct(t)) return false;
    const btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++m)
        if (std::strcmp(btf__name_by_offset(b, m->name_off), member) == 0) return true;
    return false;
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

}  // namespace

KernelFeatures probe_kernel_features(const std::string& btf_path) {
    KernelFeatures f;
    utsname u{};
    if (uname(&u) == 0) f.release = u.release;
    try {
        require_kernel_version();
        f.version_ok = true;
    } catch (const ProbeError&) {
    }
    f.kernel_btf = access(kKernelBtf, R_OK) == 0;
    try {
        require_btf(btf_path);
        f.btf_file = btf_path.empty() ? kKernelBtf : btf_path;
    } catch (const ProbeError& e) {
        f.btf_error = e.what();
    }
    f.ring_buffer = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
    f.task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1;

    // Types: tp_btf targets only from the kernel's own BTF (the verifier
    // resolves them there); CO-RE field and argument layouts from the BTF in use.
    if (f.kernel_btf) {
        std::unique_ptr<btf, void (*)(btf*)> kernel(btf__parse(kKernelBtf, nullptr), btf__free);
        if (kernel) {
            f.tp_btf = btf__find_by_name_kind(kernel.get(), "btf_trace_sched_switch", BTF_KIND_TYPEDEF) > 0;
            f.lazy_hash_maps = btf__find_by_name_kind(kernel.get(), "bpf_mem_alloc", BTF_KIND_STRUCT) > 0;
        }
    } else {
        int major = 0, minor = 0;
        f.lazy_hash_maps = std::sscanf(f.release.c_str(), "%d.%d", &major, &minor) == 2 &&
                           (major > 6 || (major == 6 && minor >= 1));
    }
    if (!f.btf_file.empty()) {
        std::unique_ptr<btf, void (*)(btf*)> types(btf__parse(f.btf_file.c_str(), nullptr), btf__free);
        if (types) {
            f.btf_types_read = true;
            f.sched_switch_prev_state = sched_switch_prev_state(types.get());
            f.task_state_renamed = struct_has_member(types.get(), "task_struct", "__state");
        } else {
            f.btf_error = "cannot parse BTF file " + f.btf_file + ": " + std::strerror(errno);
        }
    }
    return f;
}

const KernelFeatures& kernel_features() {
    static const KernelFeatures features = probe_kernel_features("");
    return features;
}

bool modern_build_applies(const KernelFeatures& f) { return f.kernel_btf && f.tp_btf && f.task_storage; }

std::vector<std::string> describe_features(const KernelFeatures& f) {
    std::vector<std::string> out;
    out.push_back("kernel: Linux " + f.release + (f.version_ok ? " (>= 5.8: supported)" : " (< 5.8: NOT supported)"));
    if (!f.btf_file.empty())
        out.push_back("BTF for CO-RE: " + f.btf_file +
                      (f.btf_types_read ? "" : " (unreadable: " + f.btf_error + ")"));
    else
        out.push_back("BTF for CO-RE: none -> " + f.btf_error);
    out.push_back(std::string("kernel BTF in sysfs: ") + yes_no(f.kernel_btf) +
                  " (CONFIG_DEBUG_INFO_BTF; BTF-typed tracepoints and BTF-typed loads need it)");
    out.push_back(std::string("BTF-typed tracepoints (tp_btf, 5.5+): ") + yes_no(f.tp_btf) + " -> hooks: " +
                  (modern_build_applies(f) ? "tp_btf/<tracepoint>" : "raw_tp/<tracepoint>"));
    out.push_back(std::string("task-local storage (5.11+): ") + yes_no(f.task_storage) +
                  " -> per-thread state in " +
                  (modern_build_applies(f) ? "task storage" : "a hash keyed by thread id"));
    out.push_back(std::string("hash maps allocated on insert from tracing programs (6.1+): ") +
                  yes_no(f.lazy_hash_maps) + " -> per-cgroup hashes " +
                  (f.lazy_hash_maps ? "grow with the cgroups seen" : "preallocated (map_entries x CPUs)"));
    out.push_back(std::string("ring buffer (5.8+): ") + yes_no(f.ring_buffer) + " -> process events " +
                  (f.ring_buffer ? "through a ring buffer" : "UNAVAILABLE (the process probe cannot load)"));
    out.push_back(std::string("socket storage from tp_btf programs (5.11+): ") +
                  (modern_build_applies(f) ? "yes -> network metrics (TCP, bytes, packets) per socket owner"
                                           : "no -> the network probe does not load (no network metrics)"));
    std::string args = !f.btf_types_read                 ? "unknown (no BTF)"
                       : f.sched_switch_prev_state == 0 ? "prev, next (no prev_state: < 5.18)"
                       : f.sched_switch_prev_state == 3 ? "prev, next, prev_state (5.18+)"
                                                        : "UNEXPECTED layout (prev/next not the 2nd/3rd arguments?)";
    out.push_back("sched_switch arguments after preempt: " + args +
                  " -> prev's state read from task_struct with CO-RE, not from the argument");
    out.push_back(std::string("task state field: ") +
                  (!f.btf_types_read ? "unknown (no BTF)"
                   : f.task_state_renamed ? "task_struct.__state (5.14+)"
                                          : "task_struct.state (< 5.14)") +
                  " -> chosen by CO-RE at load time");
    std::string build = modern_build_applies(f) ? "Linux 5.11+ (tp_btf, task storage, BTF-typed loads)"
                                                : "Linux 5.8 baseline (raw_tp, thread-id hashes, CO-RE probe reads)";
    if (!modern_build_applies(f) && f.task_storage) build += ": the 5.11+ build needs the kernel's own BTF in sysfs";
    out.push_back("probe build: " + build);
    return out;
}

void allocate_lazily_where_supported(bpf_map* map) {
    if (kernel_features().lazy_hash_maps) bpf_map__set_map_flags(map, bpf_map__map_flags(map) | BPF_F_NO_PREALLOC);
}

}  // namespace tracer::probes
