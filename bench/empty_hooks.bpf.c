// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor: programs on the same hooks as bpf/syscalls.bpf.c that do nothing.
 * What any BPF tracer of syscalls pays before doing any work. */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("raw_tp/sys_enter")
int floor_sys_enter(struct bpf_raw_tracepoint_args *ctx) { return 0; }

SEC("raw_tp/sys_exit")
int floor_sys_exit(struct bpf_raw_tracepoint_args *ctx) { return 0; }
