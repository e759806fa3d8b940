// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A step of bench_net_overhead between the floor (empty_net_hooks.bpf.c) and
 * tracer's network probe: the same cgroup_skb hooks on the cgroup2 root, each
 * doing what tracer's first does per packet, one socket-local storage lookup
 * on the packet's socket, and nothing else. The entries are made as tracer
 * makes its owner entries: at connect() (-> SYN_SENT) and listen() (-> LISTEN),
 * cloned into accepted sockets (BPF_F_CLONE). The row shows what the lookup
 * alone costs per packet. */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2
#define TCP_LISTEN 10

struct entry {
	__u64 cookie; /* what tracer keeps there is larger; the lookup is the same */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct entry);
} storage_socks SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(storage_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN)
		bpf_sk_storage_get(&storage_socks, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	return 0;
}

static __always_inline int lookup(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (sk) /* a helper call: never optimized away, its result unused */
		bpf_sk_storage_get(&storage_socks, sk, 0, 0);
	return 1;
}

SEC("cgroup_skb/ingress")
int storage_ingress(struct __sk_buff *skb) { return lookup(skb); }

SEC("cgroup_skb/egress")
int storage_egress(struct __sk_buff *skb) { return lookup(skb); }
