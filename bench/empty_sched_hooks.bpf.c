// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor of bench_sched_overhead: programs on the same hooks as the 5.11+
 * build of bpf/sched.bpf.c (tp_btf) that do nothing. What any BPF tracer of
 * these scheduler events pays before doing any work. */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_wakeup")
int floor_wake(void *ctx) { return 0; }

SEC("tp_btf/sched_wakeup_new")
int floor_wake_new(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int floor_switch(void *ctx) { return 0; }

SEC("tp_btf/sched_migrate_task")
int floor_migrate(void *ctx) { return 0; }
