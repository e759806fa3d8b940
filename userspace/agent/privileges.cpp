#include "agent/privileges.h"

#include "log.h"

#include <bpf/bpf.h>

#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace tracer::agent {
namespace {

constexpr const char* kNames[] = {
    "cap_chown",           "cap_dac_override",   "cap_dac_read_search", "cap_fowner",
    "cap_fsetid",          "cap_kill",           "cap_setgid",          "cap_setuid",
    "cap_setpcap",         "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
    "cap_net_admin",       "cap_net_raw",        "cap_ipc_lock",        "cap_ipc_owner",
    "cap_sys_module",      "cap_sys_rawio",      "cap_sys_chroot",      "cap_sys_ptrace",
    "cap_sys_pacct",       "cap_sys_admin",      "cap_sys_boot",        "cap_sys_nice",
    "cap_sys_resource",    "cap_sys_time",       "cap_sys_tty_config",  "cap_mknod",
    "cap_lease",           "cap_audit_write",    "cap_audit_control",   "cap_setfcap",
    "cap_mac_override",    "cap_mac_admin",      "cap_syslog",          "cap_wake_alarm",
    "cap_block_suspend",   "cap_audit_read",     "cap_perfmon",         "cap_bpf",
    "cap_checkpoint_restore",
};

// The signal that asks a thread to apply the target sets to itself. glibc
// keeps the first real-time signals for itself; SIGRTMIN is above those.
int drop_signal() { return SIGRTMIN + 4; }

// What every thread applies; written before any thread is signalled.
struct Target {
    uint64_t keep = 0;      // effective = permitted = inheritable
    int last_cap = CAP_LAST_CAP;
    bool drop_bounding = false;
};
Target g_target;
std::atomic<int> g_applied{0};

// Async-signal-safe: raw syscalls only.
void apply_target() {
    const Target t = g_target;
    if (t.drop_bounding)
        for (int cap = 0; cap <= t.last_cap; ++cap)
            if (!(t.keep >> cap & 1)) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        auto word = static_cast<uint32_t>(t.keep >> (32 * i));
        data[i] = {word, word, word};
    }
    syscall(SYS_capset, &hdr, data);
}

void on_drop_signal(int) {
    int saved = errno;
    apply_target();
    g_applied.fetch_add(1, std::memory_order_release);
    errno = saved;
}

int last_cap() {
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int n = -1;
    return (in >> n) && n > 0 && n < 64 ? n : CAP_LAST_CAP;
}

// The calling thread's effective and permitted sets.
std::pair<uint64_t, uint64_t> own_sets() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0) return {0, 0};
    auto join = [](uint32_t lo, uint32_t hi) { return uint64_t(hi) << 32 | lo; };
    return {join(data[0].effective, data[1].effective), join(data[0].permitted, data[1].permitted)};
}

// "CapEff"/"CapPrm" of one thread from /proc; false when it is gone.
bool thread_sets(const std::string& tid, uint64_t& eff, uint64_t& prm) {
    std::ifstream in("/proc/self/task/" + tid + "/status");
    if (!in) return false;
    bool got_eff = false, got_prm = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("CapEff:", 0) == 0) got_eff = true, eff = std::stoull(line.substr(7), nullptr, 16);
        if (line.rfind("CapPrm:", 0) == 0) got_prm = true, prm = std::stoull(line.substr(7), nullptr, 16);
    }
    return got_eff && got_prm;
}

std::vector<std::string> names_of(uint64_t mask) {
    std::vector<std::string> out;
    for (int cap = 0; cap < 64; ++cap)
        if (mask >> cap & 1) out.push_back(capability_name(cap));
    return out;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
}

}  // namespace

std::string capability_name(int cap) {
    if (cap >= 0 && cap < static_cast<int>(std::size(kNames))) return kNames[cap];
    return "cap_" + std::to_string(cap);
}

CapabilityDrop drop_capabilities(const std::vector<int>& keep) {
    CapabilityDrop result;
    auto [eff, prm] = own_sets();
    uint64_t wanted = 0;
    for (int cap : keep)
        if (cap >= 0 && cap < 64) wanted |= uint64_t(1) << cap;
    g_target.keep = prm & wanted;
    g_target.last_cap = last_cap();
    g_target.drop_bounding = eff >> CAP_SETPCAP & 1;
    result.dropped = names_of((eff | prm) & ~g_target.keep);

    struct sigaction sa {};
    sa.sa_handler = on_drop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    // Left installed: a signal still in flight after we return must not kill the process.
    if (sigaction(drop_signal(), &sa, nullptr) != 0) {
        result.error = std::string("cannot install the signal handler: ") + std::strerror(errno);
        return result;
    }
    apply_target();  // this thread

    // Every other thread applies it in the handler. Threads started meanwhile
    // by a thread that had not dropped yet are caught by the next round.
    const std::string self = std::to_string(syscall(SYS_gettid));
    for (int round = 0; round < 20; ++round) {
        std::vector<std::string> behind;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
            std::string tid = e.path().filename();
            uint64_t e_set = 0, p_set = 0;
            if (tid == self || !thread_sets(tid, e_set, p_set)) continue;
            if ((e_set | p_set) & ~g_target.keep) behind.push_back(tid);
        }
        if (behind.empty()) break;
        int sent = 0;
        int before = g_applied.load(std::memory_order_acquire);
        for (const auto& tid : behind)
            if (syscall(SYS_tgkill, getpid(), std::stoi(tid), drop_signal()) == 0) ++sent;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        while (g_applied.load(std::memory_order_acquire) - before < sent && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // Final check of every thread, this one included.
    uint64_t union_eff = 0;
    std::vector<std::string> still;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        std::string tid = e.path().filename();
        uint64_t e_set = 0, p_set = 0;
        if (!thread_sets(tid, e_set, p_set)) continue;
        union_eff |= e_set;
        if ((e_set | p_set) & ~g_target.keep) still.push_back(tid);
    }
    result.kept = names_of(union_eff);
    if (!still.empty()) {
        std::string tids;
        for (const auto& t : still) tids += (tids.empty() ? "" : ", ") + t;
        result.error = "thread(s) " + tids + " still hold capabilities (the signal is blocked there?)";
    }
    return result;
}

bool bpf_commands_need_capability() {
    int map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tracer_capchk", sizeof(uint32_t), sizeof(uint32_t), 1, nullptr);
    if (map < 0) return true;  // cannot tell: keep what the maps need
    int lookup_errno = 0;
    // Capabilities are per thread: this one gives up its effective set (it
    // keeps the permitted one) and tries what the agent does later.
    std::thread([&] {
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2]{};
        if (syscall(SYS_capget, &hdr, data) != 0) {
            lookup_errno = errno;
            return;
        }
        data[0].effective = data[1].effective = 0;
        if (syscall(SYS_capset, &hdr, data) != 0) {
            lookup_errno = errno;
            return;
        }
        uint32_t key = 0, value = 0;
        if (bpf_map_lookup_elem(map, &key, &value) != 0) lookup_errno = errno;
    }).join();
    close(map);
    return lookup_errno != 0;
}

void drop_capabilities_after_startup() {
    // Before Linux 6.5, with kernel.unprivileged_bpf_disabled set (the default
    // of most distributions), every bpf() command checks CAP_BPF, map reads
    // and link attachments included: the agent then keeps what it loaded with.
    std::vector<int> keep;
    if (bpf_commands_need_capability()) {
        auto [eff, prm] = own_sets();
        (void)eff;
        keep = {CAP_BPF, CAP_PERFMON};
        if (!(prm >> CAP_BPF & 1)) keep.push_back(CAP_SYS_ADMIN);
        LOG_INFO("capabilities: this kernel checks them on every bpf() call (map reads, latency windows): "
                 "keeping those the probes loaded with");
    }
    CapabilityDrop d = drop_capabilities(keep);
    if (!d.error.empty())
        LOG_WARN("capabilities: could not drop them in every thread: %s; kept: %s", d.error.c_str(),
                 joined(d.kept).c_str());
    else
        LOG_INFO("capabilities: start-up done, kept %s; dropped %s", joined(d.kept).c_str(),
                 joined(d.dropped).c_str());
}

}  // namespace tracer::agent
