/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types tracer's BPF programs read, declared by hand for CO-RE.
 *
 * This is deliberately NOT a `bpftool btf dump` of some vmlinux: the build must
 * work on hosts without BTF (container builds). Each struct carries
 * preserve_access_index, so only the *names* of the members we touch matter;
 * libbpf relocates every access against the running kernel's BTF at load time.
 * Add a member here only when a program reads it, and keep declarations minimal.
 */
#ifndef TRACER_KERNEL_TYPES_H
#define TRACER_KERNEL_TYPES_H

#include <linux/types.h>
#include <linux/bpf.h> /* uapi: map types, flags, bpf_raw_tracepoint_args */
#include <stdbool.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct kernfs_node {
	u64 id; /* u64 since 5.5: equals the cgroupfs inode number on 64-bit */
};

struct cgroup {
	struct kernfs_node *kn;
};

struct cgroup_subsys_state {
	struct cgroup *cgroup;
};

/* Array length is irrelevant for CO-RE (the member offset is relocated, the
 * index is bounded by the program); 16 covers every controller that exists. */
#define TRACER_CGROUP_SUBSYS_MAX 16
struct css_set {
	struct cgroup_subsys_state *subsys[TRACER_CGROUP_SUBSYS_MAX];
	struct cgroup *dfl_cgrp; /* the task's cgroup in the v2 (default) hierarchy */
};

struct sched_entity {
	u64 sum_exec_runtime; /* ns on CPU, kept by the scheduler for every class */
};

/* CONFIG_SCHED_INFO: the scheduler's own run-queue accounting (rq clock),
 * what /proc/<pid>/schedstat shows. */
struct sched_info {
	unsigned long pcount;        /* times run on a CPU (switch-ins) */
	unsigned long long run_delay; /* ns spent waiting on a run queue, summed */
};

struct task_struct {
	unsigned int __state; /* 5.14+; `state` before, see task_struct___pre514 */
	struct sched_entity se;
	struct sched_info sched_info;
	int pid;
	int tgid;
	struct css_set *cgroups;
	struct task_struct *real_parent;
	struct mm_struct *mm;
	int exit_code;
	unsigned long nvcsw;  /* voluntary context switches */
	unsigned long nivcsw; /* involuntary ones: with nvcsw, every switch-out */
	u64 start_time; /* CLOCK_MONOTONIC ns */
	char comm[16];
};

struct mm_struct {
	unsigned long total_vm; /* pages */
};

struct linux_binprm {
	const char *filename;
};

/* Sockets (bpf/net.bpf.c). In the kernel most of sock_common's fields sit in
 * anonymous unions and structs; CO-RE finds them by name through those. */
struct in6_addr {
	union {
		u8 u6_addr8[16];
	} in6_u;
};

struct sock_common {
	__be32 skc_daddr;     /* IPv4 remote */
	__be32 skc_rcv_saddr; /* IPv4 local */
	__be16 skc_dport;     /* remote port, network order */
	u16 skc_num;          /* local port, host order */
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	unsigned long skc_flags; /* enum sock_flags bits; sock.sk_flags on older kernels, see sock___old */
};

struct sock {
	struct sock_common __sk_common;
	u16 sk_protocol; /* a plain u16 since 5.6 (a bitfield before) */
};

/* CO-RE flavor: struct sock kept its own sk_flags until sock_common took it. */
struct sock___old {
	unsigned long sk_flags;
};

struct inet_sock {
	__be16 inet_sport; /* local port, network order; kept when the port is released at close */
};

struct tcp_sock {
	u32 srtt_us;        /* smoothed RTT << 3, in us */
	u64 bytes_acked;    /* payload bytes the peer acknowledged (RFC 4898 tcpEStatsAppHCThruOctetsAcked) */
	u64 bytes_received; /* payload bytes received in order */
	u64 bytes_sent;     /* payload bytes sent, retransmits included (4.19+) */
	u64 bytes_retrans;  /* payload bytes retransmitted (4.19+) */
	u32 segs_in;        /* segments received, GRO super-packets by their segments */
	u32 segs_out;       /* segments sent, retransmits and pure ACKs included */
	u16 tcp_header_len; /* TCP header of a sent segment, options included */
};

/* CO-RE flavor (libbpf ignores the ___suffix): task_struct before 5.14. */
struct task_struct___pre514 {
	long state;
};

/* CO-RE flavours of cgroup for the cgroup:cgroup_mkdir/rmdir programs: the
 * hierarchy a cgroup belongs to. */
struct cgroup_root___ev {
	int hierarchy_id;
};

struct cgroup___ev {
	struct kernfs_node *kn;
	struct cgroup_root___ev *root;
};

/* Values are relocated by CO-RE (bpf_core_enum_value). */
enum cgroup_subsys_id {
	memory_cgrp_id = 4,
};

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long orig_ax;
};
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	s32 syscallno;
};
#else
#error "tracer's BPF programs support x86 and arm64"
#endif

#pragma clang attribute pop

#endif /* TRACER_KERNEL_TYPES_H */
