// What loading tracer's BPF programs needs from this host, checked up front so
// a missing piece is one clear message naming the fix, not a libbpf errno.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace tracer::probes {

// A host problem that stops a probe from loading (privileges, kernel, BTF).
class ProbeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws ProbeError unless the effective capabilities allow loading and
// attaching tracing programs: CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON.
void require_bpf_privileges();

// Throws ProbeError on kernels older than 5.8.
void require_kernel_version();

// Kernel BTF for CO-RE: `btf_path` if given (must exist), else
// /sys/kernel/btf/vmlinux. Throws ProbeError naming CONFIG_DEBUG_INFO_BTF / --btf.
void require_btf(const std::string& btf_path);

// Routes libbpf's messages into tracer's log (debug level) and keeps the last
// lines so a failed load can show them.
void install_libbpf_logging();
std::vector<std::string> recent_libbpf_messages();

// A failed libbpf call on `what` -> ProbeError with a hint for common errnos
// and the last libbpf lines.
[[noreturn]] void throw_libbpf_error(const std::string& what, int err);

}  // namespace tracer::probes
