/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/net.bpf.c and userspace/probes/net_probe.cpp.
 * Plain C, fixed-width types, explicit padding: both compilers must agree.
 */
#ifndef TRACER_NET_H
#define TRACER_NET_H

#include <linux/types.h>

#define NET_COMM_LEN 16
/* log2 ns histograms (RTT, connection lifetime): slot i counts values in
 * [2^i, 2^(i+1)) ns; the last slot also takes everything longer (~34 s+). */
#define NET_SLOTS 36

/* Per cgroup key, per CPU, since the entry was created. Starts with the
 * fields of struct net_fast, in its order. */
struct net_stats {
	__u64 rx_bytes, tx_bytes;     /* IP packets, headers included (TCP settles: see net.bpf.c) */
	__u64 rx_packets, tx_packets; /* segments: GSO/GRO super-packets count theirs */
	__u64 opened_inbound;         /* TCP connections accepted (SYN_RECV -> ESTABLISHED) */
	__u64 opened_outbound;        /* TCP connections connected (SYN_SENT -> ESTABLISHED) */
	__u64 closed;                 /* of those, closed (-> CLOSE) */
	__u64 retransmits;            /* TCP segments retransmitted */
	__u64 resets_sent, resets_received;
	__u64 closed_tx_bytes, closed_rx_bytes; /* payload bytes of the closed connections */
	__u64 lifetime_total_ns, rtt_total_ns;  /* sums over the closed connections */
	__u64 lifetime_slots[NET_SLOTS];        /* open -> close, per closed connection */
	__u64 rtt_slots[NET_SLOTS];             /* smoothed RTT at close, per closed connection */
};

enum net_direction {
	NET_DIR_NONE = 0, /* a listener, or not yet connected */
	NET_DIR_INBOUND = 1,
	NET_DIR_OUTBOUND = 2,
};

/* TCP settles (see net.bpf.c): by default every 2^4 = 16 sent segments. */
#define NET_DEFAULT_SETTLE_SHIFT 4

/* The owner of a socket, in its socket-local storage: the task that created
 * (connect) or listened on it (an accepted socket inherits its listener's). */
struct net_sock {
	__u64 cgroup_key;
	__u64 opened_ns; /* ESTABLISHED at; 0: not (yet) an open connection */
	__u32 tgid;
	__u32 direction; /* enum net_direction */
	char comm[NET_COMM_LEN];
	__u32 slot;      /* the owner cgroup's counting slot (NET_SLOT_NONE: none) ... */
	__u32 pad;
	__u64 slot_gen;  /* ... while net_slot_gens[slot] still holds this */
	/* TCP counters already charged (see "TCP settles" in net.bpf.c) */
	__u64 settled_tx_bytes, settled_rx_bytes;
	__u32 settled_segs_out, settled_segs_in;
	__u32 header_len; /* IP + TCP header of one segment */
	__u32 settling;   /* the settled_* fields hold a baseline */
};

/* Bytes and packets of a cgroup holding a counting slot, per CPU (see
 * "Bytes and packets" in net.bpf.c). */
struct net_fast {
	__u64 rx_bytes, tx_bytes, rx_packets, tx_packets;
};
#define NET_SLOT_NONE 0xffffffffu

/* A TCP connection that was open closed (tracer trace --events tcp). */
struct net_conn_event {
	__u64 cgroup_key;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
	__u64 lifetime_ns;
	__u64 tx_bytes;     /* tcp_sock.bytes_acked: payload the peer acknowledged */
	__u64 rx_bytes;     /* tcp_sock.bytes_received */
	__u32 srtt_us;      /* smoothed RTT at close (0: never measured) */
	__u32 tgid;
	__u32 direction;    /* enum net_direction */
	__u16 family;       /* AF_INET / AF_INET6 */
	__u16 lport;        /* host order */
	__u16 rport;        /* host order */
	__u16 pad[3];
	__u8 laddr[16];     /* IPv4: the first 4 bytes */
	__u8 raddr[16];
	char comm[NET_COMM_LEN];
};

/* Indexes of the per-CPU `net_drops` array. */
enum net_drop_reason {
	NET_DROP_STATS_FULL = 0,    /* net_stats map full: event not counted */
	NET_DROP_SOCK_STORAGE = 1,  /* socket storage not created: its connection not attributed */
	NET_DROP_RINGBUF_FULL = 2,  /* net_events ring full: a closed connection not printed */
	NET_DROP_UNATTRIBUTED = 3,  /* packets of sockets with no known owner (not a drop:
	                             * charged to no cgroup; see net.bpf.c) */
	NET_DROP_REASONS = 4,
};

#endif /* TRACER_NET_H */
