// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Network per cgroup: bytes and packets each way, TCP connections (opened by
 * direction, closed, lifetime, bytes, smoothed RTT), retransmits and resets.
 *
 * Attribution: a socket remembers its owner. Every TCP socket gets a
 * socket-local storage entry (net_socks) holding the cgroup key, tgid and comm
 * of the task that owns it, written where that task is `current`:
 *  - connect(): the CLOSE -> SYN_SENT transition of sock:inet_sock_set_state
 *    runs in the connecting task;
 *  - listen(): CLOSE -> LISTEN runs in the listening task. An accepted socket is
 *    cloned from its listener in softirq context; the map has BPF_F_CLONE, so
 *    the kernel copies the listener's entry into the child before its
 *    -> SYN_RECV transition, where it becomes an inbound connection.
 * Everything that happens later in softirq or timer context (received
 * packets, retransmits, resets, state changes, ACK-clocked transmits) is
 * charged to the owner found on the socket, never to whatever task `current`
 * happens to be. The key is the one every tracer program uses (cgroup_key.bpf.h:
 * the v2 cgroup, or the cgroup in the chosen v1 hierarchy), so the labels join.
 *
 * Bytes and packets: cgroup_skb ingress/egress programs attached to the root
 * of the cgroup2 hierarchy see every IP packet a local socket sends or
 * receives, whatever the network namespace (host-network containers included)
 * and also on hybrid hosts: sockets carry their v2 cgroup next to the v1
 * net_cls/net_prio data (since 5.15; before, using net_cls or net_prio turned
 * the v2 cgroup of sockets off, see docs/architecture.md). The packet goes to
 * its socket's owner; a request socket's (SYN-ACK) to its listener's. A socket
 * with no owner entry (UDP, raw, TCP sockets opened before tracer started) is
 * charged to its own v2 cgroup when tracer keys on cgroup v2 (exact), else
 * counted as unattributed (NET_DROP_UNATTRIBUTED).
 * Counting slots keep a map lookup off the packet path: when a socket gets
 * its owner, the owner's cgroup gets a slot (from the net_free_slots queue
 * the first time; net_slots remembers it) and the socket entry records it
 * with the slot's generation. A packet of that socket adds to
 * net_counts[cpu][slot], a plain array (inlined lookups) that userspace
 * maps. Userspace hands a removed cgroup's slot back after bumping its
 * generation in net_slot_gens, so a socket that outlived its cgroup counts
 * in net_stats again, under its owner's key. Sockets without a slot (none
 * free) count in net_stats as before; userspace adds the two.
 *
 * Only the 5.11+ build exists (socket storage from tp_btf programs appeared in
 * 5.11); userspace refuses older kernels with a clear message.
 *
 * tracer-builds: modern
 */
#include "kernel_types.h"
#include "net.h"
#include "bits.bpf.h"
#include "cgroup_key.bpf.h"
#include "maps.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_DONE 1 /* enum sock_flags: set by tcp_fin() */

enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
	TCP_NEW_SYN_RECV = 12,
};

/* `tracer trace --events tcp` sets it: closed connections go into net_events. */
const volatile bool emit_events = false;

/* Counting slots (see the top); set by userspace. fast_slots == 0: none. */
const volatile __u32 fast_slots = 0;
const volatile __u32 fast_cpus = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by userspace before load */
	__type(key, __u64);
	__type(value, struct net_stats);
} net_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct net_sock);
} net_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by userspace before load */
} net_events SEC(".maps");

/* [cpu][slot], sized by userspace */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_fast);
} net_counts SEC(".maps");

/* generation of each slot, bumped by userspace as it takes a slot back */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} net_slot_gens SEC(".maps");

/* cgroup key -> its slot */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
} net_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1);
	__type(value, __u32);
} net_free_slots SEC(".maps");

DROP_COUNTERS(net_drops, NET_DROP_REASONS);

/* Records in `o` the counting slot of its owner's cgroup, taking a free one
 * for a cgroup seen the first time (NET_SLOT_NONE when none is left). */
static __always_inline void take_slot(struct net_sock *o)
{
	o->slot = NET_SLOT_NONE;
	if (!fast_slots)
		return;
	__u32 slot;
	if (!counting_slot(&net_slots, &net_free_slots, o->cgroup_key, &slot))
		return;
	__u64 *gen = bpf_map_lookup_elem(&net_slot_gens, &slot);
	if (!gen || slot >= fast_slots)
		return;
	o->slot_gen = *gen;
	o->slot = slot;
}

static __always_inline struct net_stats *stats_for(__u64 key)
{
	static const struct net_stats zero;
	return lookup_or_init(&net_stats, &key, &zero, &net_drops, NET_DROP_STATS_FULL);
}

/* ---- bytes and packets ---- */

static __always_inline void add_packet(struct net_fast *f, __u64 len, __u64 segs, bool egress)
{
	if (egress) {
		f->tx_bytes += len;
		f->tx_packets += segs;
	} else {
		f->rx_bytes += len;
		f->rx_packets += segs;
	}
}

static __always_inline int account_packet(struct __sk_buff *skb, bool egress)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		goto unattributed;
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	if (!full)
		full = bpf_get_listener_sock(sk); /* a request socket: its listener */
	if (!full)
		goto unattributed; /* time-wait */

	__u64 key;
	__u64 segs = skb->gso_segs ? skb->gso_segs : 1;
	struct net_sock *owner = bpf_sk_storage_get(&net_socks, full, 0, 0);
	if (owner && owner->slot < fast_slots) {
		__u32 slot = owner->slot;
		__u64 *gen = bpf_map_lookup_elem(&net_slot_gens, &slot);
		if (gen && *gen == owner->slot_gen) {
			__u32 i = bpf_get_smp_processor_id() * fast_slots + slot;
			struct net_fast *f = bpf_map_lookup_elem(&net_counts, &i);
			if (f) {
				add_packet(f, skb->len, segs, egress);
				return 1;
			}
		}
	}
	if (owner)
		key = owner->cgroup_key;
	else if (cgroup_key_mode == CGROUP_KEY_DEFAULT)
		key = bpf_sk_cgroup_id(full);
	else
		goto unattributed;

	struct net_stats *st = stats_for(key);
	if (st) /* net_stats starts with the fields of net_fast */
		add_packet((struct net_fast *)st, skb->len, segs, egress);
	return 1;
unattributed:
	count_drop(&net_drops, NET_DROP_UNATTRIBUTED);
	return 1; /* always let the packet through */
}

SEC("cgroup_skb/ingress")
int tracer_net_ingress(struct __sk_buff *skb)
{
	return account_packet(skb, false);
}

SEC("cgroup_skb/egress")
int tracer_net_egress(struct __sk_buff *skb)
{
	return account_packet(skb, true);
}

/* ---- TCP ---- */

/* Request and time-wait sockets are not full sockets: no storage there. */
static __always_inline struct net_sock *owner_of(const struct sock *sk)
{
	if (!sk)
		return NULL;
	unsigned char state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_NEW_SYN_RECV || state == TCP_TIME_WAIT)
		return NULL;
	return bpf_sk_storage_get(&net_socks, (struct sock *)sk, 0, 0);
}

static __always_inline void set_owner_current(const struct sock *sk, __u32 direction)
{
	struct net_sock *o = bpf_sk_storage_get(&net_socks, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o) {
		count_drop(&net_drops, NET_DROP_SOCK_STORAGE);
		return;
	}
	o->cgroup_key = current_cgroup_key();
	o->tgid = bpf_get_current_pid_tgid() >> 32;
	o->direction = direction;
	o->opened_ns = 0;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	take_slot(o);
}

/* Payload bytes of a connection closing from `oldstate`. tcp_sock counts
 * sequence space: bytes_acked includes the SYN (active opener only) and our
 * FIN once acknowledged (FIN_WAIT2, CLOSING, LAST_ACK: it was); bytes_received
 * includes the peer's FIN once it arrived (SOCK_DONE). */
static __always_inline void payload_bytes(const struct sock *sk, struct net_sock *o, int oldstate, __u64 *tx,
					  __u64 *rx)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked), received = BPF_CORE_READ(tp, bytes_received);
	__u64 control = o->direction == NET_DIR_OUTBOUND;
	if (oldstate == TCP_FIN_WAIT2 || oldstate == TCP_CLOSING || oldstate == TCP_LAST_ACK)
		control += 1;
	*tx = acked > control ? acked - control : 0;
	unsigned long flags;
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	else
		flags = BPF_CORE_READ((const struct sock___old *)sk, sk_flags);
	control = (flags >> SOCK_DONE) & 1;
	*rx = received > control ? received - control : 0;
}

static __always_inline void record_close(const struct sock *sk, struct net_sock *o, int oldstate)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 lifetime = now - o->opened_ns;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 tx, rx;
	payload_bytes(sk, o, oldstate, &tx, &rx);
	__u32 srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	o->opened_ns = 0; /* counted once */

	struct net_stats *st = stats_for(o->cgroup_key);
	if (st) {
		st->closed += 1;
		st->closed_tx_bytes += tx;
		st->closed_rx_bytes += rx;
		st->lifetime_total_ns += lifetime;
		__u32 slot = log2_slot(lifetime, NET_SLOTS);
		barrier_var(slot);
		if (slot < NET_SLOTS)
			st->lifetime_slots[slot] += 1;
		if (srtt_us) {
			__u64 rtt_ns = (__u64)srtt_us * 1000;
			st->rtt_total_ns += rtt_ns;
			slot = log2_slot(rtt_ns, NET_SLOTS);
			barrier_var(slot);
			if (slot < NET_SLOTS)
				st->rtt_slots[slot] += 1;
		}
	}
	if (!emit_events)
		return;

	struct net_conn_event *e = bpf_ringbuf_reserve(&net_events, sizeof(*e), 0);
	if (!e) {
		count_drop(&net_drops, NET_DROP_RINGBUF_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->cgroup_key = o->cgroup_key;
	e->timestamp_ns = now;
	e->lifetime_ns = lifetime;
	e->tx_bytes = tx;
	e->rx_bytes = rx;
	e->srtt_us = srtt_us;
	e->tgid = o->tgid;
	e->direction = o->direction;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	/* skc_num is already 0 when a passive close releases the port */
	e->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__be32 *)e->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__be32 *)e->raddr, sk, __sk_common.skc_daddr);
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tracer_net_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	struct net_sock *o;
	switch (newstate) {
	case TCP_SYN_SENT: /* connect(): current is the owner */
		set_owner_current(sk, NET_DIR_OUTBOUND);
		return 0;
	case TCP_LISTEN: /* listen(): current is the owner of every accepted child */
		set_owner_current(sk, NET_DIR_NONE);
		return 0;
	case TCP_SYN_RECV: /* a child cloned from its listener, entry included */
		o = owner_of(sk);
		if (o) {
			o->direction = NET_DIR_INBOUND;
			o->opened_ns = 0;
		}
		return 0;
	case TCP_ESTABLISHED:
		o = owner_of(sk);
		if (!o || o->opened_ns || o->direction == NET_DIR_NONE)
			return 0;
		o->opened_ns = bpf_ktime_get_ns();
		struct net_stats *st = stats_for(o->cgroup_key);
		if (st) {
			if (o->direction == NET_DIR_INBOUND)
				st->opened_inbound += 1;
			else
				st->opened_outbound += 1;
		}
		return 0;
	case TCP_CLOSE:
		o = owner_of(sk);
		if (o && o->opened_ns)
			record_close(sk, o, oldstate);
		return 0;
	}
	return 0;
}

enum tcp_event { RETRANSMIT, RESET_SENT, RESET_RECEIVED };

/* Charged to the socket's owner, whatever context the kernel is in. */
static __always_inline void charge_tcp_event(const struct sock *sk, enum tcp_event what)
{
	struct net_sock *o = owner_of(sk);
	if (!o) {
		count_drop(&net_drops, NET_DROP_UNATTRIBUTED);
		return;
	}
	struct net_stats *st = stats_for(o->cgroup_key);
	if (!st)
		return;
	if (what == RETRANSMIT)
		st->retransmits += 1;
	else if (what == RESET_SENT)
		st->resets_sent += 1;
	else
		st->resets_received += 1;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tracer_net_retransmit, const struct sock *sk)
{
	charge_tcp_event(sk, RETRANSMIT);
	return 0;
}

/* sk is NULL for a reset answering a packet no socket wanted (a closed port). */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tracer_net_send_reset, const struct sock *sk)
{
	charge_tcp_event(sk, RESET_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tracer_net_receive_reset, struct sock *sk)
{
	charge_tcp_event(sk, RESET_RECEIVED);
	return 0;
}
