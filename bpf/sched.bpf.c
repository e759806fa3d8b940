// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-cgroup scheduling accounting: run-queue latency, on-CPU time, voluntary
 * and involuntary context switches, migrations.
 *
 * Four scheduler tracepoints, attached as raw tracepoints (no tracefs). Every
 * event only updates a per-CPU hash keyed by cgroup; userspace reads deltas
 * once per interval. Nothing goes through a ring buffer.
 *
 *  - sched_wakeup, sched_wakeup_new: the task starts waiting on a run queue.
 *  - sched_switch(prev -> next): prev is charged its time on CPU and one
 *    voluntary (it blocked) or involuntary (it stays runnable: preempted or
 *    yielded; it starts waiting again) switch; next ends its wait, charged as
 *    run-queue latency to next's cgroup (the one that waited, not the waker).
 *  - sched_migrate_task: one migration for the moved task's cgroup.
 * The idle tasks (pid 0, one per CPU) are never charged nor tracked.
 *
 * Time on CPU is the growth of the scheduler's own runtime of the task
 * (se.sum_exec_runtime: what cpuacct and /proc/<pid>/schedstat report) since
 * its previous switch-out, rather than "now - switch-in". Same time (less
 * IRQ/steal time where the kernel accounts those apart), but a switch-in the
 * tracepoint never reports loses nothing: on some virtualised kernels
 * switches away from the idle task or from certain host-agent threads do not
 * fire sched_switch at all (seen with ftrace itself on 6.18 Firecracker).
 *
 * Per-thread state (wait start, runtime at last switch-out) is built twice:
 *  - TRACER_BPF_MODERN (5.11+): tp_btf hooks, task-local storage (freed with
 *    the task), BTF-typed direct loads of task fields.
 *  - otherwise (5.8+): raw_tp hooks, a hash keyed by thread id, CO-RE probe
 *    reads. A thread's slot is deleted at its last switch-out (state
 *    TASK_DEAD): sched_process_exit comes before that switch, and a thread
 *    preempted between the two would re-create its slot. A new thread resets
 *    its slot (sched_wakeup_new), so a reused thread id inherits nothing.
 * sched_switch's prev_state argument only exists from 5.18; both builds read
 * prev->__state (5.14+) or prev->state with CO-RE instead.
 */
#include "kernel_types.h"
#include "sched.h"
#include "bits.bpf.h"
#include "cgroup_key.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0x0000
#define TASK_DEAD 0x0080

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by userspace before load */
	__type(key, struct sched_key);
	__type(value, struct sched_stats);
} sched_stats SEC(".maps");

#ifdef TRACER_BPF_MODERN
#define HOOK(tp) SEC("tp_btf/" tp)
#define TASK_READ(t, field) ((t)->field)
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_task);
} sched_tasks SEC(".maps");
#else
#define HOOK(tp) SEC("raw_tp/" tp)
#define TASK_READ(t, field) BPF_CORE_READ(t, field)
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768); /* resized by userspace before load */
	__type(key, __u32);
	__type(value, struct sched_task);
} sched_tasks SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCHED_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} sched_drops SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&sched_drops, &reason);
	if (n)
		*n += 1;
}

static __always_inline struct sched_stats *stats_for_key(__u64 cgroup_key)
{
	struct sched_key key = { .cgroup_id = cgroup_key };
	struct sched_stats *st = bpf_map_lookup_elem(&sched_stats, &key);
	if (st)
		return st;
	static const struct sched_stats zero;
	/* BPF_NOEXIST: another CPU may have inserted it meanwhile, which is fine. */
	bpf_map_update_elem(&sched_stats, &key, &zero, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&sched_stats, &key);
	if (!st)
		count_drop(SCHED_DROP_STATS_FULL);
	return st;
}

static __always_inline struct sched_stats *stats_for(struct task_struct *t)
{
	return stats_for_key(task_cgroup_key(t));
}

static __always_inline __u64 task_runtime(struct task_struct *t)
{
	return TASK_READ(t, se.sum_exec_runtime);
}

/* The scheduling slot of thread `t` (pid `pid`); created on demand when
 * `create`, with the task's runtime so far as the base of its next charge. */
static __always_inline struct sched_task *task_slot(struct task_struct *t, __u32 pid, bool create)
{
#ifdef TRACER_BPF_MODERN
	if (!create)
		return bpf_task_storage_get(&sched_tasks, t, 0, 0);
	struct sched_task init = { .runtime_ns = task_runtime(t) };
	return bpf_task_storage_get(&sched_tasks, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
#else
	struct sched_task *ts = bpf_map_lookup_elem(&sched_tasks, &pid);
	if (ts || !create)
		return ts;
	struct sched_task fresh = { .runtime_ns = task_runtime(t) };
	bpf_map_update_elem(&sched_tasks, &pid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&sched_tasks, &pid);
#endif
}

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return TASK_READ(t, __state);
	struct task_struct___pre514 *old = (void *)t;
	return TASK_READ(old, state);
}

/* `p` becomes runnable. A task preempted earlier is already waiting: keep that start. */
HOOK("sched_wakeup")
int BPF_PROG(tracer_sched_wakeup, struct task_struct *p)
{
	__u32 pid = TASK_READ(p, pid);
	if (!pid)
		return 0;
	struct sched_task *ts = task_slot(p, pid, true);
	if (!ts) {
		count_drop(SCHED_DROP_TASK_SLOT);
		return 0;
	}
	if (!ts->wait_start_ns)
		ts->wait_start_ns = bpf_ktime_get_ns();
	return 0;
}

/* A new task: waiting from now, nothing run yet. */
HOOK("sched_wakeup_new")
int BPF_PROG(tracer_sched_wakeup_new, struct task_struct *p)
{
	__u32 pid = TASK_READ(p, pid);
	struct sched_task fresh = {
		.wait_start_ns = bpf_ktime_get_ns(),
		.runtime_ns = task_runtime(p),
	};
#ifdef TRACER_BPF_MODERN
	struct sched_task *ts = task_slot(p, pid, true);
	if (ts) {
		*ts = fresh;
		return 0;
	}
#else
	/* BPF_ANY: a slot left by an earlier thread of this id is overwritten */
	if (bpf_map_update_elem(&sched_tasks, &pid, &fresh, BPF_ANY) == 0)
		return 0;
#endif
	count_drop(SCHED_DROP_TASK_SLOT);
	return 0;
}

HOOK("sched_switch")
int BPF_PROG(tracer_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 prev_pid = TASK_READ(prev, pid), next_pid = TASK_READ(next, pid);
	/* Most switches stay in one cgroup (a pipe or futex partner, a thread of
	 * the same process): then prev's stats serve next too, one lookup. */
	__u64 prev_key = 0;
	struct sched_stats *prev_st = NULL;

	if (prev_pid) {
		long state = task_state(prev);
		bool dead = state & TASK_DEAD; /* its last switch */
		/* still on the run queue: it waits again from now on */
		bool runnable = preempt || state == TASK_RUNNING;
		prev_key = task_cgroup_key(prev);
		struct sched_stats *st = prev_st = stats_for_key(prev_key);
		struct sched_task *ts = task_slot(prev, prev_pid, !dead);
		if (ts) {
			__u64 runtime = task_runtime(prev);
			if (st && runtime > ts->runtime_ns)
				st->oncpu_ns += runtime - ts->runtime_ns;
			ts->runtime_ns = runtime;
			ts->wait_start_ns = runnable ? now : 0; /* drops a stale wake-up stamp */
		} else if (!dead) {
			count_drop(SCHED_DROP_TASK_SLOT);
		}
		if (st) {
			if (runnable)
				st->involuntary += 1;
			else
				st->voluntary += 1;
		}
#ifndef TRACER_BPF_MODERN
		if (dead) /* the thread is gone */
			bpf_map_delete_elem(&sched_tasks, &prev_pid);
#endif
	}

	if (!next_pid)
		return 0;
	struct sched_task *ts = task_slot(next, next_pid, true);
	if (!ts) {
		count_drop(SCHED_DROP_TASK_SLOT);
		return 0;
	}
	if (ts->wait_start_ns) {
		__u64 wait = now - ts->wait_start_ns;
		ts->wait_start_ns = 0;
		__u64 next_key = task_cgroup_key(next);
		struct sched_stats *st = prev_st && next_key == prev_key ? prev_st : stats_for_key(next_key);
		if (st) {
			st->runq_count += 1;
			st->runq_total_ns += wait;
			__u32 slot = log2_slot(wait, SCHED_RUNQ_SLOTS);
			barrier_var(slot); /* keep the bound check for older verifiers */
			if (slot < SCHED_RUNQ_SLOTS)
				st->runq_slots[slot] += 1;
		}
	}
	return 0;
}

HOOK("sched_migrate_task")
int BPF_PROG(tracer_sched_migrate_task, struct task_struct *p, int dest_cpu)
{
	if (!TASK_READ(p, pid))
		return 0;
	struct sched_stats *st = stats_for(p);
	if (st)
		st->migrations += 1;
	return 0;
}
