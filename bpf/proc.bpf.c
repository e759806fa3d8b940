// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process lifecycle: exec, fork, exit and OOM kills, per cgroup.
 *
 * Every event bumps a per-CPU counter keyed by cgroup (proc_counts; userspace
 * sums over CPUs) and goes into a ring buffer (proc_events) as a record
 * (bpf/proc.h). These events are rare next to syscalls, so a ring buffer is
 * affordable; still, they are submitted with BPF_RB_NO_WAKEUP (userspace drains
 * on a short timer; a wake-up per event measured 9x slower for traced
 * syscalls), except OOM kills, which wake the consumer at once. A full ring
 * loses the event, never the count: every failed reserve is counted in
 * proc_drops.
 *
 *  - sched_process_exec: the new image's path (bprm->filename);
 *  - sched_process_fork: new processes only (a new thread is not a process);
 *  - sched_process_exit: thread-group leaders only (pid == tgid), with the
 *    wait status (task->exit_code) and the lifetime (now - task->start_time);
 *  - oom:mark_victim: the victim, its cgroup key, its memory cgroup key and its
 *    mm->total_vm. Its prototype changed: recent kernels (6.18 here) pass the
 *    victim `(struct task_struct *, uid_t)`; older ones (5.8 up to at least
 *    6.8) only `(int pid)`. CO-RE cannot tell prototypes apart, so userspace
 *    reads the kernel's btf_trace_mark_victim and sets oom_victim_is_task.
 *    With only a pid, BPF cannot look the task up (no pid -> task helper
 *    before 6.2's kfunc) and `current` is the allocating task, not the victim
 *    (a global OOM can come from any cgroup). So the pid is parked in
 *    proc_oom_pending and the event is emitted when that thread exits (the
 *    victim has just been SIGKILLed): then current IS the victim, and its keys
 *    are exact. Such events carry PROC_OOM_AT_EXIT, the marking time, and no
 *    total_vm (the mm is gone by then). `oom_report_at_exit` forces that path
 *    on new kernels too (tests).
 *
 * Built twice (see cmake/BpfSkeleton.cmake), like syscalls.bpf.c:
 *  - TRACER_BPF_MODERN (5.11+): tp_btf hooks, BTF-typed direct loads;
 *  - otherwise (5.8+): raw_tp hooks, CO-RE probe reads.
 */
#include "kernel_types.h"
#include "proc.h"
#include "cgroup_key.bpf.h"
#include "hooks.bpf.h"
#include "maps.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* From the kernel's BTF: oom:mark_victim passes the victim task (else a pid). */
const volatile bool oom_victim_is_task = true;
/* Report OOM victims when they exit (forced when only a pid is passed). */
const volatile bool oom_report_at_exit = false;
/* Which kinds go into the ring: bit (1 << PROC_EVENT_*). The counters count
 * every kind regardless; `tracer run` asks for OOM kills only, `tracer trace`
 * for what it prints. The verifier prunes the ring code of kinds left out. */
const volatile __u32 emitted_events = ~0u;

#define EMITS(kind) (emitted_events & (1u << (kind)))

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by userspace before load */
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by userspace before load */
	__type(key, __u64);
	__type(value, struct proc_counts);
} proc_counts SEC(".maps");

DROP_COUNTERS(proc_drops, PROC_DROP_REASONS);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct proc_oom_pending);
} proc_oom_pending SEC(".maps");


static __always_inline struct proc_counts *counts_for(__u64 key)
{
	static const struct proc_counts zero;
	return lookup_or_init(&proc_counts, &key, &zero, &proc_drops, PROC_DROP_COUNTS_FULL);
}

/* The task's cgroup in the memory controller's hierarchy (v1 or v2), whatever
 * the keying; 0 without CONFIG_MEMCG. */
static __always_inline __u64 task_memcg_key(struct task_struct *t)
{
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	return task_subsys_cgroup_key(t, bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id));
}

static __always_inline void fill(struct proc_event *e, __u32 kind, struct task_struct *t, __u64 key)
{
	e->kind = kind;
	e->pid = KREAD(t, pid);
	e->tgid = KREAD(t, tgid);
	e->ppid = KREAD2(t, real_parent, tgid);
	e->cgroup_id = key;
	e->timestamp_ns = bpf_ktime_get_ns();
	if (bpf_core_read_str(e->comm, sizeof(e->comm), &t->comm) < 0)
		e->comm[0] = 0;
}

HOOK("sched_process_exec")
int BPF_PROG(tracer_proc_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	__u64 key = current_cgroup_key(); /* p is current */
	struct proc_counts *c = counts_for(key);
	if (c)
		c->execs += 1;
	if (!EMITS(PROC_EVENT_EXEC))
		return 0;

	struct proc_exec_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(&proc_drops, PROC_DROP_RINGBUF_FULL);
		return 0;
	}
	fill(&e->hdr, PROC_EVENT_EXEC, p, key);
	e->old_pid = old_pid;
	e->pad = 0;
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), KREAD(bprm, filename)) < 0)
		e->filename[0] = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

HOOK("sched_process_fork")
int BPF_PROG(tracer_proc_fork, struct task_struct *parent, struct task_struct *child)
{
	if (KREAD(child, pid) != KREAD(child, tgid))
		return 0; /* a new thread */
	/* the child's own key: clone3(CLONE_INTO_CGROUP) may differ from the parent's */
	__u64 key = task_cgroup_key(child);
	struct proc_counts *c = counts_for(key);
	if (c)
		c->forks += 1;
	if (!EMITS(PROC_EVENT_FORK))
		return 0;

	struct proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(&proc_drops, PROC_DROP_RINGBUF_FULL);
		return 0;
	}
	fill(e, PROC_EVENT_FORK, child, key);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

static __always_inline void emit_oom(struct task_struct *victim, __u64 marked_ns, __u32 trigger_tgid,
				     __u32 flags)
{
	__u64 key = task_cgroup_key(victim);
	struct proc_counts *c = counts_for(key);
	if (c)
		c->oom_kills += 1;
	if (!EMITS(PROC_EVENT_OOM))
		return;

	struct proc_oom_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(&proc_drops, PROC_DROP_RINGBUF_FULL);
		return;
	}
	fill(&e->hdr, PROC_EVENT_OOM, victim, key);
	e->hdr.timestamp_ns = marked_ns;
	e->memcg_id = task_memcg_key(victim);
	/* mm->total_vm is one plain field; the RSS counters changed layout twice
	 * (atomics, then per-CPU counters in 6.2) and are left out. */
	e->total_vm_pages = (flags & PROC_OOM_AT_EXIT) ? 0 : KREAD2(victim, mm, total_vm);
	e->trigger_tgid = trigger_tgid;
	e->flags = flags;
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP); /* urgent */
}

static __always_inline void park_oom_victim(__u32 tid)
{
	struct proc_oom_pending v = {
		.marked_ns = bpf_ktime_get_ns(),
		.trigger_tgid = (__u32)(bpf_get_current_pid_tgid() >> 32),
	};
	if (bpf_map_update_elem(&proc_oom_pending, &tid, &v, BPF_ANY))
		count_drop(&proc_drops, PROC_DROP_OOM_PENDING_FULL);
}

HOOK("sched_process_exit")
int BPF_PROG(tracer_proc_exit, struct task_struct *p)
{
	__u32 pid = KREAD(p, pid), tgid = KREAD(p, tgid);

	if (oom_report_at_exit) {
		struct proc_oom_pending *v = bpf_map_lookup_elem(&proc_oom_pending, &pid);
		if (v) {
			__u64 marked_ns = v->marked_ns;
			__u32 trigger = v->trigger_tgid;
			bpf_map_delete_elem(&proc_oom_pending, &pid);
			emit_oom(p, marked_ns, trigger, PROC_OOM_AT_EXIT);
		}
	}
	if (pid != tgid)
		return 0; /* a thread; the process ends with its leader */

	__u64 key = current_cgroup_key(); /* p is current */
	struct proc_counts *c = counts_for(key);
	if (c)
		c->exits += 1;
	if (!EMITS(PROC_EVENT_EXIT))
		return 0;

	struct proc_exit_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_drop(&proc_drops, PROC_DROP_RINGBUF_FULL);
		return 0;
	}
	fill(&e->hdr, PROC_EVENT_EXIT, p, key);
	e->exit_code = KREAD(p, exit_code);
	e->pad = 0;
	e->lifetime_ns = e->hdr.timestamp_ns - KREAD(p, start_time);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* Raw context: argument 0 is a task pointer or an int, by kernel (see top).
 * The verifier types it from the running kernel's prototype and drops the
 * branch the read-only knob rules out. */
HOOK("mark_victim")
int tracer_proc_oom(unsigned long long *ctx)
{
	if (!oom_victim_is_task) {
		park_oom_victim((__u32)ctx[0]);
		return 0;
	}
	struct task_struct *victim = (struct task_struct *)ctx[0];
	if (oom_report_at_exit) {
		park_oom_victim(KREAD(victim, pid));
		return 0;
	}
	emit_oom(victim, bpf_ktime_get_ns(), (__u32)(bpf_get_current_pid_tgid() >> 32), 0);
	return 0;
}
