// Least privilege at run time: once the BPF programs are attached and every
// socket is bound, the agent needs no capability on Linux 6.5+ (map reads,
// ring buffers and links work on the file descriptors it already holds; the
// files it reads later are world-readable or owned by root). Older kernels
// check CAP_BPF on every bpf() call: CAP_BPF and CAP_PERFMON are kept there. This drops them from
// every thread of the process, not only the calling one (capabilities are
// per thread in Linux).
#pragma once

#include <string>
#include <vector>

namespace tracer::agent {

struct CapabilityDrop {
    std::vector<std::string> kept;     // capabilities still effective afterwards ("cap_bpf")
    std::vector<std::string> dropped;  // capabilities the process had and gave up
    std::string error;                 // why the drop is incomplete; "" when every thread dropped
};

// Lowercase name of capability `cap` ("cap_net_admin"), "cap_<n>" when unknown.
std::string capability_name(int cap);

// Reduces the effective, permitted and inheritable sets of every thread of this
// process to `keep` (those of `keep` it has), clears the ambient set, and drops
// the rest from the bounding set where CAP_SETPCAP allows. Threads other than
// the caller do it in a signal handler (a real-time signal sent to each); the
// result is checked in /proc/self/task/*/status.
CapabilityDrop drop_capabilities(const std::vector<int>& keep);

// True when this kernel refuses bpf() commands on an existing map to a thread
// without CAP_BPF (Linux before 6.5 with kernel.unprivileged_bpf_disabled set:
// the check then covers every command). Tried on a throw-away map from a
// thread that gives up its own effective capabilities.
bool bpf_commands_need_capability();

// What the agent calls once after start-up: drops everything the kernel lets
// it drop (see bpf_commands_need_capability) and logs what it kept and
// dropped (a warning when a thread could not be reached).
void drop_capabilities_after_startup();

}  // namespace tracer::agent
