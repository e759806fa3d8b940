// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor of bench_net_overhead: cgroup_skb programs on the cgroup2 root, as
 * bpf/net.bpf.c attaches its own, that let every packet through and do
 * nothing else. What any per-packet cgroup accounting pays before doing any
 * work. */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup_skb/ingress")
int floor_ingress(struct __sk_buff *skb) { return 1; }

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb) { return 1; }
