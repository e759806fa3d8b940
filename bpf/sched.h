/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/sched.bpf.c and userspace/probes/sched_probe.cpp.
 * Plain C, fixed-width types, explicit padding: both compilers must agree.
 */
#ifndef TRACER_SCHED_H
#define TRACER_SCHED_H

#include <linux/types.h>

/* log2 run-queue latency histogram: slot i counts waits in [2^i, 2^(i+1)) ns;
 * the last slot also takes everything longer (2^35 ns ~ 34 s). */
#define SCHED_RUNQ_SLOTS 36

struct sched_key {
	__u64 cgroup_id;
};

/* Per cgroup, per CPU, since the entry was created. */
struct sched_stats {
	__u64 runq_count;    /* waits on a run queue that ended (switch-in) */
	__u64 runq_total_ns; /* their summed length */
	__u64 oncpu_ns;      /* time on CPU (the scheduler's own runtime), charged at switch-out */
	__u64 voluntary;     /* switch-outs that blocked (state != TASK_RUNNING, not preempted) */
	__u64 involuntary;   /* switch-outs of a task that stayed runnable (preempted, yielded) */
	__u64 migrations;    /* tasks moved to another CPU */
	__u64 runq_slots[SCHED_RUNQ_SLOTS];
};

/* One row of sched_counts: a counting slot's stats on one CPU, and the key
 * of the cgroup this CPU's programs last resolved the slot for. Userspace
 * zeroes `owner` in every CPU's row before it hands the slot back, which is
 * what invalidates every thread's cached slot (see bpf/sched.bpf.c). */
struct sched_row {
	__u64 owner; /* first: on the same cache line as the counters a switch adds to */
	struct sched_stats stats;
};

/* No counting slot: the cgroup counts in the sched_stats hash. */
#define SCHED_SLOT_NONE 0xffffffffu
/* A thread whose cgroup found no slot asks again after this many switches. */
#define SCHED_SLOT_RETRY 64

/* Scheduling state of one thread. */
struct sched_task {
	__u64 wait_start_ns; /* clock mode: runnable and waiting since (woken, or preempted); 0: not waiting */
	__u64 runtime_ns;    /* its se.sum_exec_runtime at its last switch-out (or when first seen) */
	__u64 run_delay_ns;  /* sched_info mode: its sched_info.run_delay, pcount then */
	__u64 pcount;
	/* Its cgroup, cached: valid while the thread's cgroup is still
	 * `cgroup_ident` (task_cgroup_ident: moved threads get another) and,
	 * for a counting slot, while the slot's row on this CPU is still
	 * `cgroup_key`'s. */
	__u64 cgroup_ident;
	__u64 cgroup_key;
	__u32 slot;   /* its counting slot in sched_counts, or SCHED_SLOT_NONE */
	__u16 stride; /* slots per CPU in sched_counts (fast_slots), so the row needs no global */
	__u16 retry;  /* SCHED_SLOT_NONE: switches left before it asks for a slot again */
};

/* 5.11+ build: the entries of sched_threads, indexed by the low bits of the
 * thread id. */
#define SCHED_THREAD_SLOTS 32768

/* One entry of sched_threads: the state of the thread that holds it. One
 * cache line (the array is page-aligned): threads on other CPUs never share
 * one. */
struct sched_thread {
	__u64 task; /* the holder's task_struct address; 0: free */
	struct sched_task state;
};

/* Indexes of the per-CPU `sched_drops` array: every failed map update. */
enum sched_drop_reason {
	SCHED_DROP_STATS_FULL = 0, /* sched_stats map full: event not counted */
	SCHED_DROP_TASK_SLOT = 1,  /* no per-thread slot: a wait or on-CPU stretch not measured.
	                            * 5.8+ build: sched_tasks full. 5.11+ build: task storage not
	                            * created because a wake-up from an interrupt found another
	                            * task-storage program (any tool) mid-update on this CPU. */
	SCHED_DROP_REASONS = 2,
};

#endif /* TRACER_SCHED_H */
