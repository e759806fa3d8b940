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
 * TCP settles: on this path the per-packet cost was mostly the first touch
 * of the socket's storage, not the work done there. TCP already counts
 * every connection's bytes and segments in its tcp_sock (bytes_sent with
 * retransmits, bytes_received, segs_out, segs_in), so from the moment a
 * connection is established its packets are not counted one by one: a sent
 * packet that takes segs_out past a multiple of 2^settle_shift settles the
 * connection, charging the growth of those counters since its last settle
 * (both directions; each segment counted with the IP and TCP header size of
 * the connection) to the owner. Its close (-> CLOSE) settles it a last time.
 * The other packets of an established connection cost a check that the
 * socket is TCP (bpf_tcp_sock) and, when sent, one counter read; they never
 * touch the storage. Settles run where the kernel holds the socket's lock
 * (every TCP transmit and state change does), so two never overlap on one
 * socket. Until its next settle a
 * connection's last segments (fewer than 2^settle_shift sent, and whatever it
 * received since) are not counted yet; over its life, all are. Connections
 * being set up (SYN_SENT, SYN_RECV), listeners, TCP packets without a full
 * socket, and every other protocol count per packet as above. A connection
 * established before tracer started (no owner entry) gets one at its first
 * settle, with its counters then as the baseline, charged like a socket
 * without an owner (its v2 cgroup, or unattributed). settle_tcp false (the
 * option 0): every packet is counted as it passes.
 *
 * Missed transitions: a state change can reach this program without it
 * running. The kernel skips a run on a CPU where the same program is already
 * running (an interrupt's softirq landing inside one of its runs) and counts
 * it (tracer_bpf_runs_skipped_total); and on a 6.18 Firecracker VM a whole
 * handshake processed from the SYN retransmit timer under load ran no
 * program at all, with no skip counted (bpf_printk showed the LISTEN and
 * SYN_SENT runs and nothing until FIN_WAIT1). A connection whose ESTABLISHED
 * (or, for a listener's child, SYN_RECV) went unprocessed has an owner entry
 * with a cgroup key but never started settling, so nothing would count its
 * open and close nor, with TCP settles on, its packets. It is found at its first
 * settle point or, if it never reaches one, at its close: counted as opened
 * then (a child still without a direction as inbound), and settled from the
 * connection's start (bytes from zero, segments from the handshake's: within
 * one per direction). Its lifetime counts from when it was found. A skipped
 * CLOSE is made up for when the socket is destroyed (tcp:tcp_destroy_sock,
 * which every full TCP socket reaches after CLOSE, its storage still there):
 * a connection still settling or not yet counted as closed gets its last
 * settle and its close there, with its payload bytes sent read from the
 * socket's counters rather than from the state it closed from (which is no
 * longer known). Only a connection whose CLOSE and destroy runs were both
 * skipped loses its last unsettled segments and its close.
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
	TCP_FIN_WAIT1 = 4,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
	TCP_NEW_SYN_RECV = 12,
};

/* `tracer trace --events tcp` sets it: closed connections go into net_events. */
const volatile bool emit_events = false;

/* TCP settles (see the top); set by userspace. The state program reads
 * settle_tcp; the packet programs read both only when the setting is not the
 * default (see "Packet programs" below). */
const volatile bool settle_tcp = true;
const volatile __u32 settle_shift = NET_DEFAULT_SETTLE_SHIFT;

/* Tests only: act as if the kernel had skipped this program's runs at every
 * connection's SYN_RECV and ESTABLISHED (see "Missed transitions" at the top). */
const volatile bool fault_skip_established = false;
/* Tests only: the state program ignores every CLOSE, as if those runs had
 * been skipped (tracer_net_destroy makes up for them). */
const volatile bool fault_skip_close = false;

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

/* Adds to the counting slot or stats of `o`'s owner. */
static __always_inline void charge(struct net_sock *o, __u64 key, __u64 rx_bytes, __u64 tx_bytes, __u64 rx_segs,
				   __u64 tx_segs)
{
	if (o && o->slot < fast_slots) {
		__u32 slot = o->slot;
		__u64 *gen = bpf_map_lookup_elem(&net_slot_gens, &slot);
		if (gen && *gen == o->slot_gen) {
			__u32 i = bpf_get_smp_processor_id() * fast_slots + slot;
			struct net_fast *f = bpf_map_lookup_elem(&net_counts, &i);
			if (f) {
				f->rx_bytes += rx_bytes;
				f->tx_bytes += tx_bytes;
				f->rx_packets += rx_segs;
				f->tx_packets += tx_segs;
				return;
			}
		}
	}
	struct net_stats *st = stats_for(key);
	if (st) { /* net_stats starts with the fields of net_fast */
		st->rx_bytes += rx_bytes;
		st->tx_bytes += tx_bytes;
		st->rx_packets += rx_segs;
		st->tx_packets += tx_segs;
	}
}

/* ---- TCP settles ---- */

/* A TCP socket's own counters as a settle reads them. */
struct tcp_counts {
	__u64 tx_bytes, rx_bytes;
	__u32 segs_out, segs_in;
};

/* Records `c` as what `o`'s socket has been charged for. */
static __always_inline void settled_at(struct net_sock *o, const struct tcp_counts *c)
{
	o->settled_tx_bytes = c->tx_bytes;
	o->settled_rx_bytes = c->rx_bytes;
	o->settled_segs_out = c->segs_out;
	o->settled_segs_in = c->segs_in;
}

/* Starts charging `o`'s socket from its counters now. */
static __always_inline void settle_from(struct net_sock *o, const struct tcp_counts *c, __u32 header_len)
{
	settled_at(o, c);
	o->header_len = header_len;
	o->settling = 1;
}

/* Charges the growth of the socket's counters since the last settle. Every
 * caller holds the socket's lock, so settles of one socket never overlap. */
static __always_inline void settle(struct net_sock *o, const struct tcp_counts *c)
{
	__u32 segs_out = c->segs_out - o->settled_segs_out, segs_in = c->segs_in - o->settled_segs_in;
	__u64 tx = c->tx_bytes - o->settled_tx_bytes + (__u64)segs_out * o->header_len;
	__u64 rx = c->rx_bytes - o->settled_rx_bytes + (__u64)segs_in * o->header_len;
	settled_at(o, c);
	if (!segs_out && !segs_in)
		return;
	if (o->cgroup_key)
		charge(o, o->cgroup_key, rx, tx, segs_in, segs_out);
	else
		count_drops(&net_drops, NET_DROP_UNATTRIBUTED, segs_in + segs_out);
}

/* Connection states whose packets are settled rather than counted. */
#define SETTLED_STATES                                                                                             \
	((1u << TCP_ESTABLISHED) | (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) |       \
	 (1u << TCP_CLOSING) | (1u << TCP_LAST_ACK))

static __always_inline bool is_settled_state(__u32 state)
{
	return state < 32 && ((1u << state) & SETTLED_STATES);
}

static __always_inline void count_open(const struct net_sock *o)
{
	struct net_stats *st = stats_for(o->cgroup_key);
	if (!st)
		return;
	if (o->direction == NET_DIR_INBOUND)
		st->opened_inbound += 1;
	else
		st->opened_outbound += 1;
}

/* An established connection with a keyed owner that never started settling:
 * its ESTABLISHED run was skipped (see "Missed transitions" at the top).
 * Counts its open now and settles it from its start up to `c`. */
static __always_inline void recover_open(struct net_sock *o, const struct tcp_counts *c, __u32 header_len)
{
	if (o->direction == NET_DIR_NONE) /* a listener's child whose SYN_RECV went unseen too */
		o->direction = NET_DIR_INBOUND;
	/* the handshake was counted packet by packet: the connector's SYN and
	 * either end's first segment received (a child starts with segs_in 1) */
	struct tcp_counts start = {
		.segs_out = o->direction == NET_DIR_OUTBOUND && c->segs_out ? 1 : 0,
		.segs_in = c->segs_in ? 1 : 0,
	};
	settle_from(o, &start, header_len);
	o->opened_ns = bpf_ktime_get_ns();
	count_open(o);
	settle(o, c);
}

/* A sent packet of a TCP socket in a settled state (received ones are left
 * to the socket's next settle): it settles the socket when it takes its
 * segment count past a multiple of 2^shift. */
static __always_inline void tcp_sent(struct __sk_buff *skb, struct bpf_sock *sk, struct bpf_tcp_sock *btp,
				     __u32 shift)
{
	__u32 segs = skb->gso_segs ? skb->gso_segs : 1;
	struct tcp_counts c = {.segs_out = btp->segs_out};
	if (((c.segs_out - segs) >> shift) == (c.segs_out >> shift))
		return;
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	if (!full)
		return;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(full);
	if (!tp)
		return;
	c.tx_bytes = tp->bytes_sent;
	c.rx_bytes = tp->bytes_received;
	c.segs_in = tp->segs_in;
	__u32 header_len = (skb->protocol == bpf_htons(0x86DD) ? 40 : 20) + tp->tcp_header_len;
	struct net_sock *o = bpf_sk_storage_get(&net_socks, full, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o) {
		count_drop(&net_drops, NET_DROP_SOCK_STORAGE);
		return;
	}
	if (!o->settling) {
		if (o->cgroup_key) { /* its ESTABLISHED run was skipped */
			recover_open(o, &c, header_len);
			return;
		}
		/* a socket opened before tracer started (or whose entry could not
		 * be made then): charged from now on, to its v2 cgroup if that is
		 * the key, else as unattributed */
		if (cgroup_key_mode == CGROUP_KEY_DEFAULT) {
			o->cgroup_key = bpf_sk_cgroup_id(full);
			take_slot(o);
		} else {
			o->slot = NET_SLOT_NONE;
		}
		settle_from(o, &c, header_len);
		return;
	}
	o->header_len = header_len;
	settle(o, &c);
}

/* `settle` and `shift`: settle_tcp and settle_shift, or the defaults as
 * constants (see "Packet programs" below). */
static __always_inline int account_packet(struct __sk_buff *skb, bool egress, bool settle, __u32 shift)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		goto unattributed;
	/* (a connected UDP socket is "established" too: bpf_tcp_sock tells them apart) */
	if (settle && is_settled_state(sk->state)) {
		struct bpf_tcp_sock *btp = bpf_tcp_sock(sk);
		if (btp) {
			if (egress)
				tcp_sent(skb, sk, btp, shift);
			return 1;
		}
	}
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	if (!full)
		full = bpf_get_listener_sock(sk); /* a request socket: its listener */
	if (!full)
		goto unattributed; /* time-wait */

	__u64 key;
	__u64 segs = skb->gso_segs ? skb->gso_segs : 1;
	struct net_sock *owner = bpf_sk_storage_get(&net_socks, full, 0, 0);
	if (owner && owner->cgroup_key)
		key = owner->cgroup_key;
	else if (owner) /* made by a settle, with no key to give it */
		goto unattributed;
	else if (cgroup_key_mode == CGROUP_KEY_DEFAULT)
		key = bpf_sk_cgroup_id(full);
	else
		goto unattributed;
	if (egress)
		charge(owner, key, 0, skb->len, 0, segs);
	else
		charge(owner, key, skb->len, 0, segs, 0);
	return 1;
unattributed:
	count_drop(&net_drops, NET_DROP_UNATTRIBUTED);
	return 1; /* always let the packet through */
}

/* Packet programs: two of each. The settle settings are per-packet reads,
 * and a read of .rodata, the first page of data an established connection's
 * packet touched, cost a TLB fill of its own on VMs that flush the TLB at
 * every kernel entry (egress: 3-26 ns/run on a 2 vCPU EPYC VM with PTI; the
 * verifier knows the value but still loads it). So the programs userspace
 * loads for the default (settles every 2^NET_DEFAULT_SETTLE_SHIFT segments)
 * have it as a constant, and the _configured pair, loaded for any other
 * setting, reads it. */
SEC("cgroup_skb/ingress")
int tracer_net_ingress(struct __sk_buff *skb)
{
	return account_packet(skb, false, true, NET_DEFAULT_SETTLE_SHIFT);
}

SEC("cgroup_skb/egress")
int tracer_net_egress(struct __sk_buff *skb)
{
	return account_packet(skb, true, true, NET_DEFAULT_SETTLE_SHIFT);
}

SEC("cgroup_skb/ingress")
int tracer_net_ingress_configured(struct __sk_buff *skb)
{
	return account_packet(skb, false, settle_tcp, settle_shift);
}

SEC("cgroup_skb/egress")
int tracer_net_egress_configured(struct __sk_buff *skb)
{
	return account_packet(skb, true, settle_tcp, settle_shift);
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

/* Payload bytes of a connection closing from `oldstate` (-1: not known).
 * tcp_sock counts sequence space: bytes_acked includes the SYN (active opener
 * only) and our FIN once acknowledged (FIN_WAIT2, CLOSING, LAST_ACK: it was);
 * bytes_received includes the peer's FIN once it arrived (SOCK_DONE). With
 * the state not known, the payload sent once (bytes_sent less bytes_retrans)
 * bounds it: the FIN is acknowledged only after every byte before it. */
static __always_inline void payload_bytes(const struct sock *sk, struct net_sock *o, int oldstate, __u64 *tx,
					  __u64 *rx)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked), received = BPF_CORE_READ(tp, bytes_received);
	__u64 control = o->direction == NET_DIR_OUTBOUND;
	if (oldstate == TCP_FIN_WAIT2 || oldstate == TCP_CLOSING || oldstate == TCP_LAST_ACK)
		control += 1;
	*tx = acked > control ? acked - control : 0;
	if (oldstate < 0) {
		__u64 sent = BPF_CORE_READ(tp, bytes_sent), retrans = BPF_CORE_READ(tp, bytes_retrans);
		sent = sent > retrans ? sent - retrans : 0;
		if (*tx > sent)
			*tx = sent;
	}
	unsigned long flags;
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	else
		flags = BPF_CORE_READ((const struct sock___old *)sk, sk_flags);
	control = (flags >> SOCK_DONE) & 1;
	*rx = received > control ? received - control : 0;
}

/* The same counters, read at a state change. */
static __always_inline void read_counts(const struct sock *sk, struct tcp_counts *c)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	c->tx_bytes = BPF_CORE_READ(tp, bytes_sent);
	c->rx_bytes = BPF_CORE_READ(tp, bytes_received);
	c->segs_out = BPF_CORE_READ(tp, segs_out);
	c->segs_in = BPF_CORE_READ(tp, segs_in);
}

/* IP and TCP header of one of the connection's segments. */
static __always_inline __u32 header_len_of(const struct sock *sk)
{
	__u32 ip = BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6 ? 40 : 20;
	return ip + BPF_CORE_READ((const struct tcp_sock *)sk, tcp_header_len);
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

/* Its last settle and its close, from `oldstate` (-1: not known). */
static __always_inline void close_connection(const struct sock *sk, struct net_sock *o, int oldstate)
{
	if (settle_tcp && !o->settling && o->cgroup_key && !o->opened_ns && is_settled_state(oldstate)) {
		/* established, its ESTABLISHED run skipped, and closing
		 * before any settle point found it */
		struct tcp_counts c;
		read_counts(sk, &c);
		recover_open(o, &c, header_len_of(sk));
	}
	if (o->settling) { /* its last settle */
		struct tcp_counts c;
		read_counts(sk, &c);
		settle(o, &c);
		o->settling = 0;
	}
	if (o->opened_ns)
		record_close(sk, o, oldstate);
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
		if (fault_skip_established)
			return 0;
		o = owner_of(sk);
		if (o) {
			o->direction = NET_DIR_INBOUND;
			o->opened_ns = 0;
		}
		return 0;
	case TCP_ESTABLISHED:
		if (fault_skip_established)
			return 0;
		o = owner_of(sk);
		if (!o || o->opened_ns || o->direction == NET_DIR_NONE)
			return 0;
		o->opened_ns = bpf_ktime_get_ns();
		if (settle_tcp) { /* from here its packets are settled: what came before was counted */
			struct tcp_counts c;
			read_counts(sk, &c);
			settle_from(o, &c, header_len_of(sk));
		}
		count_open(o);
		return 0;
	case TCP_CLOSE:
		if (fault_skip_close)
			return 0;
		o = owner_of(sk);
		if (o)
			close_connection(sk, o, oldstate);
		return 0;
	}
	return 0;
}

/* The socket is going: a connection whose CLOSE the state program did not
 * process (a skipped run, see "Missed transitions" at the top) is still
 * settling or not yet counted as closed; a processed CLOSE left neither. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(tracer_net_destroy, const struct sock *sk)
{
	struct net_sock *o = owner_of(sk);
	if (o && (o->settling || o->opened_ns))
		close_connection(sk, o, -1);
	return 0;
}

enum tcp_event { RETRANSMIT, RESET_SENT, RESET_RECEIVED };

/* Charged to the socket's owner, whatever context the kernel is in. */
static __always_inline void charge_tcp_event(const struct sock *sk, enum tcp_event what)
{
	struct net_sock *o = owner_of(sk);
	if (!o || !o->cgroup_key) { /* no entry, or one a settle made without a key */
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
