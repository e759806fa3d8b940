// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What one program run pays on the syscall hooks, piece by piece: nothing
 * (the hook and bpf_stats' own clock reads), fields of the current task, a
 * word of map memory read or written, a second page, a small map that is not
 * mmapable (kmalloc'd: the kernel's direct map) instead of one that is
 * (vmalloc'd: 4 KiB pages), a per-CPU array (the kernel's per-CPU areas),
 * a clock read, a task-storage lookup; and one page
 * shared by an entry and an exit program, as syscalls.bpf.c's per-CPU entry
 * is; then on sched_switch: prev's fields, a line per thread, a counter per
 * CPU (what sched.bpf.c touches). bench_hook_costs attaches one row at a time. */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One 64-byte line per CPU, like tracer's per-CPU entries. */
struct line {
	__u64 w[8];
};

#define CPU_LINES(name, flags, entries)                                                                  \
	struct {                                                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                        \
		__uint(map_flags, flags);                                                                \
		__uint(max_entries, entries);                                                            \
		__type(key, __u32);                                                                      \
		__type(value, struct line);                                                              \
	} name SEC(".maps")

/* vmalloc'd (mmapable arrays always are), as tracer's per-CPU entries and counts */
CPU_LINES(page_a, BPF_F_MMAPABLE, 64);
CPU_LINES(page_b, BPF_F_MMAPABLE, 64);
CPU_LINES(shared_page, BPF_F_MMAPABLE, 64);
/* small and not mmapable: kmalloc'd */
CPU_LINES(small, 0, 64);

/* per-CPU (the kernel's per-CPU areas) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct line);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct line);
} storage SEC(".maps");

/* Programs return something that depends on what they read, so the reads stay. */

static __always_inline struct line *cpu_line(void *map)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(map, &cpu);
}

/* One increment of word `w` of this CPU's line of `map`. */
static __always_inline void bump(void *map, int w)
{
	struct line *l = cpu_line(map);
	if (l)
		l->w[w] += 1;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_empty)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(hc_empty_exit)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_task)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return (t->nvcsw + t->nivcsw + t->pid) & 1;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_read)
{
	struct line *l = cpu_line(&page_a);
	return l ? l->w[0] & 1 : 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_write)
{
	bump(&page_a, 0);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_two_pages)
{
	bump(&page_a, 0);
	bump(&page_b, 0);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_small_map)
{
	bump(&small, 0);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_percpu_map)
{
	__u32 zero = 0;
	struct line *l = bpf_map_lookup_elem(&percpu, &zero);
	if (l)
		l->w[0] += 1;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_clock)
{
	return bpf_ktime_get_ns() & 1;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_storage)
{
	struct line *l = bpf_task_storage_get(&storage, bpf_get_current_task_btf(), 0,
					      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (l)
		l->w[0] += 1;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(hc_enter_shared)
{
	bump(&shared_page, 0);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(hc_exit_shared)
{
	bump(&shared_page, 1);
	return 0;
}

/* sched_switch: the same questions for a program on the scheduler's hook.
 * Per-thread state as the scheduling probe keeps it: an array of one line
 * per thread, indexed by the low bits of the thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct line);
} threads SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(hs_empty, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(hs_task, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return (prev->pid + prev->__state + (prev->cgroups != 0) + prev->se.sum_exec_runtime +
		prev->sched_info.run_delay + prev->sched_info.pcount) & 1;
}

static __always_inline void thread_runtime(struct task_struct *prev)
{
	__u32 i = prev->pid & 32767;
	struct line *l = bpf_map_lookup_elem(&threads, &i);
	if (l)
		l->w[0] = prev->se.sum_exec_runtime;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(hs_thread, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	thread_runtime(prev);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(hs_counter, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	bump(&page_b, 2);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(hs_thread_counter, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	thread_runtime(prev);
	bump(&page_b, 2);
	return 0;
}
