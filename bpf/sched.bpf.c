// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-cgroup scheduling accounting: run-queue latency, on-CPU time, voluntary
 * and involuntary context switches, migrations.
 *
 * Four scheduler tracepoints, attached as raw tracepoints (no tracefs). Every
 * event only updates its cgroup's per-CPU counters (a counting slot, or a
 * per-CPU hash keyed by cgroup: see the end of this comment); userspace reads
 * deltas once per interval. Nothing goes through a ring buffer.
 *
 *  - sched_switch(prev -> next): prev is charged its time on CPU (and, by
 *    tracer_sched_flush before each reading, the thread still running) and one
 *    voluntary (it blocked) or involuntary (it stays runnable: preempted or
 *    yielded) switch.
 *  - run-queue latency, two ways (userspace picks, `runq_from_sched_info`):
 *    sched_info mode (kernels with CONFIG_SCHED_INFO, every distribution
 *    kernel): the scheduler already sums each task's run-queue waits with its
 *    own rq clock (task->sched_info.run_delay, one more switch-in in pcount,
 *    what /proc/<pid>/schedstat shows). At prev's switch-out, the growth of
 *    both since its previous switch-out is the wait that ended when it
 *    switched in: charged to prev's cgroup, the one that waited. No clock
 *    read, no wake-up hook, nothing done for next.
 *    clock mode (otherwise): sched_wakeup / sched_wakeup_new and a preempted
 *    prev stamp the start of a wait; next's switch-in ends it.
 *  - sched_wakeup_new: a new task's slot starts from zero (nothing run,
 *    nothing waited), so its first stretch counts.
 *  - sched_migrate_task: one migration for the moved task's cgroup, in its
 *    cached counting row (see Counting slots below).
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
 *  - TRACER_BPF_MODERN (5.11+): tp_btf hooks, BTF-typed direct loads of task
 *    fields, and the state in an entry of sched_threads, an array indexed by
 *    the low bits of the thread id: one inlined lookup, where the task-storage
 *    helper call cost ~90 ns per switch on a PTI VM. A thread claims a free
 *    entry with a compare-and-swap of its task_struct address and holds it
 *    until its last switch-out (state TASK_DEAD); a new thread whose address
 *    is already there (left by a thread whose last switch was missed) starts
 *    it again at sched_wakeup_new. Threads whose entry another thread holds
 *    keep their state in task-local storage (freed with the task), as every
 *    thread used to; a thread that later claims its entry moves its state
 *    there. An entry whose holder's last switch-out was missed (a run the
 *    kernel skipped) or whose holder exec'd from a non-leader thread (which
 *    changes its id) stays taken: the threads of that index use task storage.
 *  - otherwise (5.8+): raw_tp hooks, a hash keyed by thread id, CO-RE probe
 *    reads. A thread's slot is deleted at its last switch-out (state
 *    TASK_DEAD): sched_process_exit comes before that switch, and a thread
 *    preempted between the two would re-create its slot. A new thread resets
 *    its slot (sched_wakeup_new), so a reused thread id inherits nothing.
 * sched_switch's prev_state argument only exists from 5.18; both builds read
 * prev->__state (5.14+) or prev->state with CO-RE instead.
 *
 * Counting slots (as in syscalls.bpf.c): a hash lookup per switch was the
 * largest part of sched_switch's cost, so the common case takes none. A
 * thread's slot above also caches its cgroup: the cgroup or css its css_set
 * pointed to in the keyed hierarchy (task_cgroup_ident), the cgroup key, the
 * cgroup's counting slot (taken from sched_free_slots the first time the
 * cgroup is seen) and the number of slots per CPU. Each CPU's
 * row of a slot (sched_counts[cpu][slot], a plain array: inlined lookup,
 * mapped and read by userspace without a syscall) names the cgroup it was
 * last resolved for. While the thread's cgroup is the cached one and the
 * row still names the cached key, its switch-outs add to that row and read
 * no cgroup key and no global: the switch touches the thread's slot, its
 * task_struct and one row, nothing else of tracer's (on a VM with PTI every
 * further page is a TLB fill, ~13 ns). A cgroup that found no free slot, a
 * switch of a thread without a slot, and the migrations of such threads count
 * in the sched_stats hash; userspace adds the two. A thread of a cgroup
 * without a slot asks again every SCHED_SLOT_RETRY switches. Userspace hands a removed cgroup's
 * slot back after zeroing the owner in every CPU's row, which invalidates
 * every thread's cache of it (a dying thread's last switch-out racing that
 * release can still add one stretch to the row: the race the syscall area's
 * epoch has too).
 *
 * The run-queue latency mode picks one of two sched_switch programs at load
 * (tracer_sched_switch for sched_info mode, tracer_sched_switch_clock for
 * clock mode), so a switch reads no setting either.
 */
#include "kernel_types.h"
#include "sched.h"
#include "bits.bpf.h"
#include "cgroup_key.bpf.h"
#include "hooks.bpf.h"
#include "maps.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0x0000
#define TASK_DEAD 0x0080

/* Run-queue latency from the scheduler's sched_info (see above); set by
 * userspace. Read by sched_wakeup_new and the flush only: each mode has its
 * own switch. */
const volatile bool runq_from_sched_info = true;

/* Counting slots per CPU (see above); set by userspace before load.
 * fast_slots == 0: every count goes to the hash. Read only when a thread's
 * cache is filled. */
const volatile __u32 fast_slots = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by userspace before load */
	__type(key, struct sched_key);
	__type(value, struct sched_stats);
} sched_stats SEC(".maps");

#ifdef TRACER_BPF_MODERN
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* page-aligned entries: one cache line each */
	__uint(max_entries, SCHED_THREAD_SLOTS);
	__type(key, __u32);
	__type(value, struct sched_thread);
} sched_threads SEC(".maps");

/* for threads whose sched_threads entry another thread holds */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_task);
} sched_tasks SEC(".maps");

/* The sched_threads entry thread id `pid` may hold. */
static __always_inline struct sched_thread *thread_entry(__u32 pid)
{
	__u32 i = pid & (SCHED_THREAD_SLOTS - 1);
	return bpf_map_lookup_elem(&sched_threads, &i);
}
#else
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768); /* resized by userspace before load */
	__type(key, __u32);
	__type(value, struct sched_task);
} sched_tasks SEC(".maps");
#endif

/* [cpu][slot] rows, sized by userspace before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_row);
} sched_counts SEC(".maps");

/* cgroup key -> its slot in sched_counts */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
} sched_slots SEC(".maps");

/* Slots no cgroup holds, filled by userspace at load */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1);
	__type(value, __u32);
} sched_free_slots SEC(".maps");

DROP_COUNTERS(sched_drops, SCHED_DROP_REASONS);

static __always_inline struct sched_stats *stats_for_key(__u64 cgroup_key)
{
	struct sched_key key = { .cgroup_id = cgroup_key };
	static const struct sched_stats zero;
	return lookup_or_init(&sched_stats, &key, &zero, &sched_drops, SCHED_DROP_STATS_FULL);
}

static __always_inline __u64 task_runtime(struct task_struct *t)
{
	return KREAD(t, se.sum_exec_runtime);
}

static __always_inline __u64 task_run_delay(struct task_struct *t)
{
	return KREAD(t, sched_info.run_delay);
}

static __always_inline __u64 task_pcount(struct task_struct *t)
{
	return KREAD(t, sched_info.pcount);
}

/* This CPU's row of counting slot `slot` (`stride` slots per CPU). */
static __always_inline struct sched_row *slot_row(__u32 stride, __u32 slot)
{
	__u32 i = bpf_get_smp_processor_id() * stride + slot;
	return bpf_map_lookup_elem(&sched_counts, &i);
}

/* The stats that thread `t` (its slot `ts`, may be NULL) counts in on this
 * CPU: its cgroup's counting slot row when the cgroup has one, else the hash
 * entry. The key and slot come from `ts`'s cache while it is valid (see the
 * top), and refill it otherwise. */
static __always_inline struct sched_stats *stats_of(struct task_struct *t, struct sched_task *ts)
{
	__u64 ident = task_cgroup_ident(t);
	struct sched_row *row;
	if (ts && ts->cgroup_ident == ident && ident) {
		if (ts->slot != SCHED_SLOT_NONE) {
			row = slot_row(ts->stride, ts->slot);
			if (row && row->owner == ts->cgroup_key)
				return &row->stats;
		} else if (ts->retry) {
			ts->retry -= 1;
			return stats_for_key(ts->cgroup_key);
		}
	}
	/* fill: a thread new here or moved, a slot handed back, or a retry */
	__u64 key = task_cgroup_key(t);
	__u32 stride = fast_slots, slot;
	row = NULL;
	/* key 0 (unreadable) never gets a slot: a zeroed row's owner is 0 */
	if (key && stride && counting_slot(&sched_slots, &sched_free_slots, key, &slot) && slot < stride)
		row = slot_row(stride, slot);
	if (row)
		row->owner = key;
	if (ts) {
		ts->cgroup_ident = ident;
		ts->cgroup_key = key;
		ts->slot = row ? slot : SCHED_SLOT_NONE;
		ts->stride = stride;
		ts->retry = SCHED_SLOT_RETRY;
	}
	return row ? &row->stats : stats_for_key(key);
}

/* One wait of `wait` ns (`waits` of them, summed) ended: run-queue latency. */
static __always_inline void charge_wait(struct sched_stats *st, __u64 waits, __u64 wait)
{
	st->runq_count += waits;
	st->runq_total_ns += wait;
	__u32 slot = log2_slot(waits > 1 ? wait / waits : wait, SCHED_RUNQ_SLOTS);
	barrier_var(slot); /* keep the bound check for older verifiers */
	if (slot < SCHED_RUNQ_SLOTS)
		st->runq_slots[slot] += waits;
}

/* The scheduling slot of thread `t` (pid `pid`); created on demand when
 * `create`, with the task's runtime (and, in sched_info mode, its run-queue
 * waits) so far as the base of its next charge (a slot that cannot be
 * created is counted). */
static __always_inline struct sched_task *task_slot(struct task_struct *t, __u32 pid, bool create,
						    const bool sched_info)
{
#ifdef TRACER_BPF_MODERN
	struct sched_thread *e = thread_entry(pid);
	if (e && e->task == (__u64)t)
		return &e->state; /* the usual case: one lookup */
	struct sched_task init = {
		.runtime_ns = task_runtime(t),
		.run_delay_ns = sched_info ? task_run_delay(t) : 0,
		.pcount = sched_info ? task_pcount(t) : 0,
	};
	struct sched_task *ts = bpf_task_storage_get(&sched_tasks, t, 0, 0);
	if (e && create && __sync_val_compare_and_swap(&e->task, 0, (__u64)t) == 0) {
		/* claimed: only this thread touches the entry from here */
		if (ts) {
			e->state = *ts; /* its state moves; a stale copy must not stay behind */
			bpf_task_storage_delete(&sched_tasks, t);
		} else {
			e->state = init;
		}
		return &e->state;
	}
	if (ts || !create)
		return ts;
	ts = bpf_task_storage_get(&sched_tasks, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts)
		count_drop(&sched_drops, SCHED_DROP_TASK_SLOT);
	return ts;
#else
	if (!create)
		return bpf_map_lookup_elem(&sched_tasks, &pid);
	struct sched_task fresh = {
		.runtime_ns = task_runtime(t),
		.run_delay_ns = sched_info ? task_run_delay(t) : 0,
		.pcount = sched_info ? task_pcount(t) : 0,
	};
	return lookup_or_init(&sched_tasks, &pid, &fresh, &sched_drops, SCHED_DROP_TASK_SLOT);
#endif
}

/* Thread `t` (its state `ts`) is charged to `st` (may be NULL) what it ran
 * since its state's base and, in sched_info mode, the run-queue waits that
 * ended since (pcount grows at each switch-in); the base moves on. */
static __always_inline void charge_run(struct sched_stats *st, struct task_struct *t, struct sched_task *ts,
				       const bool sched_info)
{
	__u64 runtime = task_runtime(t);
	if (st && runtime > ts->runtime_ns)
		st->oncpu_ns += runtime - ts->runtime_ns;
	ts->runtime_ns = runtime;
	if (sched_info) {
		__u64 delay = task_run_delay(t), runs = task_pcount(t);
		if (st && runs > ts->pcount)
			charge_wait(st, runs - ts->pcount, delay > ts->run_delay_ns ? delay - ts->run_delay_ns : 0);
		ts->run_delay_ns = delay;
		ts->pcount = runs;
	}
}

/* Clock mode: `p` becomes runnable. A task preempted earlier is already
 * waiting: keep that start. (Not loaded in sched_info mode.) */
HOOK("sched_wakeup")
int BPF_PROG(tracer_sched_wakeup, struct task_struct *p)
{
	__u32 pid = KREAD(p, pid);
	if (!pid)
		return 0;
	struct sched_task *ts = task_slot(p, pid, true, false);
	if (!ts)
		return 0;
	if (!ts->wait_start_ns)
		ts->wait_start_ns = bpf_ktime_get_ns();
	return 0;
}

/* A new task: nothing run yet, nothing waited (clock mode: waiting from now). */
HOOK("sched_wakeup_new")
int BPF_PROG(tracer_sched_wakeup_new, struct task_struct *p)
{
	__u32 pid = KREAD(p, pid);
	struct sched_task fresh = {
		.wait_start_ns = runq_from_sched_info ? 0 : bpf_ktime_get_ns(),
		.runtime_ns = task_runtime(p),
		.run_delay_ns = runq_from_sched_info ? task_run_delay(p) : 0,
		.pcount = runq_from_sched_info ? task_pcount(p) : 0,
	};
#ifdef TRACER_BPF_MODERN
	struct sched_task *ts = task_slot(p, pid, true, runq_from_sched_info);
	if (ts) {
		*ts = fresh;
		return 0;
	}
#else
	/* BPF_ANY: a slot left by an earlier thread of this id is overwritten */
	if (bpf_map_update_elem(&sched_tasks, &pid, &fresh, BPF_ANY) == 0)
		return 0;
#endif
	count_drop(&sched_drops, SCHED_DROP_TASK_SLOT);
	return 0;
}

/* prev -> next, in either run-queue latency mode (`sched_info`, a constant
 * in each program). */
static __always_inline int on_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
				     const bool sched_info)
{
	__u64 now = sched_info ? 0 : bpf_ktime_get_ns();
	__u32 prev_pid = KREAD(prev, pid);

	if (prev_pid) {
		long state = task_state(prev);
		bool dead = state & TASK_DEAD; /* its last switch */
		/* still on the run queue: it waits again from now on */
		bool runnable = preempt || state == TASK_RUNNING;
		struct sched_task *ts = task_slot(prev, prev_pid, !dead, sched_info);
		struct sched_stats *st = stats_of(prev, ts);
		if (ts) {
			charge_run(st, prev, ts, sched_info);
			if (!sched_info)
				ts->wait_start_ns = runnable ? now : 0; /* drops a stale wake-up stamp */
		}
		if (st) {
			if (runnable)
				st->involuntary += 1;
			else
				st->voluntary += 1;
		}
		if (dead) { /* the thread is gone */
#ifdef TRACER_BPF_MODERN
			struct sched_thread *e = thread_entry(prev_pid);
			if (e && e->task == (__u64)prev)
				e->task = 0;
#else
			bpf_map_delete_elem(&sched_tasks, &prev_pid);
#endif
		}
	}

	if (sched_info)
		return 0; /* next's wait is charged at its own switch-out */
	__u32 next_pid = KREAD(next, pid);
	if (!next_pid)
		return 0;
	struct sched_task *ts = task_slot(next, next_pid, true, false);
	if (!ts)
		return 0;
	if (ts->wait_start_ns) {
		__u64 wait = now - ts->wait_start_ns;
		ts->wait_start_ns = 0;
		struct sched_stats *st = stats_of(next, ts);
		if (st)
			charge_wait(st, 1, wait);
	}
	return 0;
}

HOOK("sched_switch")
int BPF_PROG(tracer_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(preempt, prev, next, true);
}

HOOK("sched_switch")
int BPF_PROG(tracer_sched_switch_clock, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(preempt, prev, next, false);
}

/* Not attached: userspace runs it on every CPU (BPF_PROG_TEST_RUN with
 * BPF_F_TEST_RUN_ON_CPU, 5.10+; from an IPI, or directly on its own CPU, with
 * interrupts or preemption off) just before it reads the counts. It charges
 * the thread running there its time on CPU since its last switch-out, as its
 * switch-out would, and moves its base on: a thread that runs for seconds
 * without being switched out (a CPU hog alone on its CPU) shows its time in
 * every reading instead of all at once when it finally leaves. The thread is
 * `current` of the interrupted CPU; its switch-out runs on that CPU with
 * interrupts off, so the two never overlap. Its runtime is what the scheduler
 * last accounted (at the latest tick). In sched_info mode the run-queue wait
 * that ended when it switched in is charged too. No switch is counted. A
 * thread without state yet is left to its switch-out. */
SEC("raw_tp")
int tracer_sched_flush(void *ctx)
{
	struct task_struct *t = current_task();
	__u32 pid = KREAD(t, pid);
	if (!pid)
		return 0; /* the idle task */
	struct sched_task *ts = task_slot(t, pid, false, false);
	if (!ts)
		return 0;
	charge_run(stats_of(t, ts), t, ts, runq_from_sched_info);
	return 0;
}

/* Counted where the moved thread's switches count: its cached counting slot
 * (this CPU's row), found through its scheduling state as a switch finds it;
 * the hash only for a thread without state or slot. `p` is not running here
 * (the scheduler moves a task only while it is off CPU, under its run
 * queue's lock), so its state is not being written by a switch meanwhile. */
HOOK("sched_migrate_task")
int BPF_PROG(tracer_sched_migrate_task, struct task_struct *p, int dest_cpu)
{
	__u32 pid = KREAD(p, pid);
	if (!pid)
		return 0;
	struct sched_stats *st = stats_of(p, task_slot(p, pid, false, false));
	if (st)
		st->migrations += 1;
	return 0;
}
