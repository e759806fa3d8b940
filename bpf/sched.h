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

/* No counting slot: the cgroup counts in the sched_stats hash. */
#define SCHED_SLOT_NONE 0xffffffffu

/* Scheduling state of one thread. */
struct sched_task {
	__u64 wait_start_ns; /* clock mode: runnable and waiting since (woken, or preempted); 0: not waiting */
	__u64 runtime_ns;    /* its se.sum_exec_runtime at its last switch-out (or when first seen) */
	__u64 run_delay_ns;  /* sched_info mode: its sched_info.run_delay, pcount then */
	__u64 pcount;
	/* Its cgroup, cached: valid while the thread's css_set is `cset` and
	 * slot_epoch has not moved (a thread that changes cgroup gets another
	 * css_set; a slot handed back bumps the epoch). */
	__u64 cset;
	__u64 cgroup_key;
	__u64 slot_epoch;
	__u32 slot; /* its counting slot in sched_counts, or SCHED_SLOT_NONE */
	__u32 pad;
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
