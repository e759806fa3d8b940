#include "probes/bpf_support.h"

#include "log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/membarrier.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>

namespace tracer::probes {
namespace {

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

bool has_cap(const __user_cap_data_struct data[2], int cap) {
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

std::mutex g_msgs_mu;
std::deque<std::string> g_msgs;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
    // A verifier log arrives as one long message: keep its last lines.
    std::string text(16384, '\0');
    int n = std::vsnprintf(text.data(), text.size(), fmt, ap);
    if (n <= 0) return 0;
    text.resize(std::min<size_t>(n, text.size() - 1));
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        if (line.empty()) continue;
        if (level != LIBBPF_DEBUG) {
            std::lock_guard lock(g_msgs_mu);
            g_msgs.push_back(line);
            if (g_msgs.size() > 24) g_msgs.pop_front();
        }
        LOG_DEBUG("libbpf: %s", line.c_str());
    }
    return 0;
}

}  // namespace

void require_bpf_privileges() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0)
        throw ProbeError(std::string("cannot read this process's capabilities: ") + std::strerror(errno));
    if (has_cap(data, CAP_SYS_ADMIN) || (has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON))) return;
    throw ProbeError(
        "not permitted to load BPF programs: run tracer as root, or grant CAP_BPF and CAP_PERFMON "
        "(e.g. setcap cap_bpf,cap_perfmon+ep tracer; in Kubernetes securityContext.capabilities.add)");
}

void require_kernel_version() {
    utsname u{};
    if (uname(&u) != 0) return;
    int major = 0, minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return;
    if (major < 5 || (major == 5 && minor < 8))
        throw ProbeError(std::string("Linux ") + u.release +
                         " is too old: tracer needs Linux >= 5.8 (ring buffers, CAP_BPF, BTF)");
}

void require_btf(const std::string& btf_path) {
    if (!btf_path.empty()) {
        if (access(btf_path.c_str(), R_OK) != 0)
            throw ProbeError("cannot read BTF file " + btf_path + " given with --btf: " + std::strerror(errno));
        return;
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        throw ProbeError(
            "this kernel exposes no BTF (/sys/kernel/btf/vmlinux: " + std::string(std::strerror(errno)) +
            "): tracer's CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y, or an external "
            "BTF file for this kernel passed with --btf PATH");
}

uint32_t ring_buffer_size(uint32_t bytes) {
    uint32_t size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    while (size < bytes && size < (1u << 30)) size <<= 1;
    return size;
}

void log_fallback_to_baseline(const char* area, const ProbeError& why) {
    LOG_INFO("%s: the Linux 5.11+ build does not load here (%s); using the 5.8+ build", area, why.what());
}

void install_libbpf_logging() { libbpf_set_print(libbpf_print); }

std::vector<std::string> recent_libbpf_messages() {
    std::lock_guard lock(g_msgs_mu);
    return {g_msgs.begin(), g_msgs.end()};
}

void throw_libbpf_error(const std::string& what, int err) {
    err = err < 0 ? -err : err;
    std::string msg = what + ": " + std::strerror(err);
    auto lines = recent_libbpf_messages();
    if (err == EACCES) {
        // privileges were checked before loading: this is the verifier saying no
        msg += " (the kernel's BPF verifier rejected a program; please report it with this kernel's version)";
        std::string verdict;
        for (const auto& l : lines)
            if (l.find("processed ") == std::string::npos && l.find("libbpf") == std::string::npos &&
                l.find("BEGIN") == std::string::npos && l.find("END") == std::string::npos)
                verdict = l;  // the verifier's last line before its summary
        if (!verdict.empty()) msg += "; verifier: " + verdict;
    } else if (err == EPERM)
        msg += " (needs root or CAP_BPF + CAP_PERFMON; a locked-down kernel or seccomp profile can also deny bpf())";
    else if (err == ENOENT || err == ESRCH)
        msg += " (a kernel type, function or tracepoint tracer needs is missing on this kernel)";
    else if (err == E2BIG || err == ENOMEM)
        msg += " (map too large: lower syscalls.map_entries / syscalls.max_threads)";
    for (const auto& l : lines)  // e.g. "map 'x': failed to create: Invalid argument(-22)"
        if (l.find("failed to create") != std::string::npos || l.find("failed to attach") != std::string::npos)
            msg += "; libbpf: " + l;
    if (!lines.empty()) msg += "; libbpf said: " + lines.back();
    throw ProbeError(msg);
}

bool wait_for_bpf_runs() {
    if (get_nprocs() < 2) {
        errno = ENOTSUP;
        return false;
    }
    return syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0;
}

std::vector<std::pair<std::string, uint64_t>> skipped_runs(const bpf_object* obj) {
    std::vector<std::pair<std::string, uint64_t>> out;
    if (!obj) return out;
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
        int fd = bpf_program__fd(prog);
        if (fd < 0) continue;  // not loaded (autoload off)
        bpf_prog_info info{};
        __u32 len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
        out.emplace_back(bpf_program__name(prog), info.recursion_misses);
    }
    return out;
}

}  // namespace tracer::probes
