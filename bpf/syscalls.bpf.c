// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-cgroup syscall accounting.
 *
 * raw_syscalls:sys_enter / sys_exit as raw tracepoints (no tracefs needed, no
 * perf-buffer copy, available long before 5.8). Every syscall only updates a
 * per-CPU hash keyed by (cgroup, syscall nr); userspace reads deltas once per
 * interval. Nothing goes through a ring buffer here.
 *
 * Latency mode (default): for the syscalls in `timed_syscalls` (those whose
 * latency userspace exports), sys_enter stamps the thread's in-flight slot and
 * sys_exit turns it into latency; every other syscall costs what count-only
 * mode costs.
 *
 * Busy threads are sampled: the two clock reads and the in-flight slot are
 * most of a timed syscall's cost on VMs whose clocksource is slow to read
 * (kvm-clock, Xen, Hyper-V). Each CPU counts the timed syscalls of the thread
 * that last entered one there, per period (the latency window as sys_exit
 * last saw it on that CPU with windows, 16 jiffies (16-64 ms) without); a
 * thread that leaves keeps its count for the period in one of the CPU's
 * SYSCALL_BUSY_THREADS entries (the busiest threads' counts stay) and takes
 * it up again when it comes back (see sample_switch). The first
 * `sample_after` of the count are all timed; beyond that, each call is timed
 * with probability 1/`sample_every` (a per-CPU xorshift draw, not every n-th
 * call, which a repeating pattern of calls could alias), and its latency is
 * recorded with that weight (histogram slot and sum grow by `sample_every`),
 * so the histogram and the sum estimate every call. Counts and errors stay
 * exact: every syscall is counted at sys_exit. The maximum is the maximum of
 * the timed calls. sample_after == 0: every call is timed. Threads that keep
 * a CPU busy are sampled; more threads taking turns on a CPU than it keeps
 * counts for are timed more, never less.
 * A call entered without a stamp touches no slot: sys_enter leaves on its CPU
 * a token of the thread and the thread's switch count (voluntary +
 * involuntary), and sys_exit, finding the same token, knows there is no
 * stamp without looking. A thread leaves its CPU to block or to move, which
 * changes its switch count: the exit of a call that blocked, or entered on
 * another CPU, looks the slot up. A stamping entry clears its CPU's token.
 * The slot is reused in place (no insert/delete per syscall) and removed when
 * the thread exits (sched_process_exit), so threads that die mid-syscall leave
 * nothing behind.
 *
 * Latency windows: userspace may attach sys_enter only for a short window of
 * every period (SyscallProbeOptions::latency_window_ms); sys_exit stays
 * attached from before sys_enter's first attach to the end, so counts and
 * errors stay exact and every stamp's exit is seen. While sys_enter is
 * detached no stamps are made and sys_exit only counts; a call entered in a
 * window and still blocked after it is timed when it returns, however late.
 * A stamp records its syscall number and sys_exit takes only a stamp of its
 * own number, then clears it: a stamp whose exit reports another number
 * (one whose exit was never seen) is dropped by the thread's next timed exit
 * that looks the slot up, or replaced by its next stamp, and can never time a
 * call of another number.
 * exit and exit_group, which never reach sys_exit, are then counted when
 * their thread exits (5.11+ build on 5.15+ kernels, which have
 * bpf_task_pt_regs; elsewhere userspace keeps sys_enter attached).
 * Userspace scales each interval's histogram to the exact count. While the
 * host makes few syscalls, userspace leaves sys_enter attached past the
 * window (attaching and detaching cost more then than the hook): sys_enter
 * counts the calls it sees on its CPU's entry (`enters`) for that rate, and
 * while held wakes userspace through `syscall_busy` as soon as its CPU
 * reaches the count userspace armed it with (`busy_at`).
 * Count-only mode: sys_enter is not loaded; sys_exit reads the syscall number
 * from pt_regs.
 *
 * Fast counting: a hash lookup per syscall was most of sys_exit's cost, so
 * the common case takes none. Each CPU caches (its syscall_cache entry) the
 * cgroup of the last task it saw (its css_set's cgroup or css in the keyed
 * hierarchy, task_cgroup_ident: not the css_set's address, which a later
 * css_set of other cgroups may take once the first is freed), that cgroup's
 * key and its counting slot; while the current task's cgroup is the cached
 * one, sys_exit adds one to syscall_counts[cpu][slot][nr], a plain array
 * (inlined lookup, userspace maps it and reads it without a syscall). Slots are taken from the
 * syscall_free_slots queue the first time a cgroup is seen and handed back by
 * userspace when the cgroup is removed (bumping slot_epoch first, so no CPU
 * keeps a stale cache entry). A call that fails, is timed, has a number of
 * SYSCALL_FAST_NRS or more, or whose cgroup found no free slot goes to the
 * syscall_stats hash as before; userspace adds the two.
 * Resident counts: each such count touched a second page (the slot's block of
 * syscall_counts) beside the CPU's syscall_cache entry, ~25-30 ns per syscall
 * on a VM that flushes the TLB at every kernel entry. So the slot that counts
 * most on a CPU (userspace picks it every period and makes it the CPU's
 * `resident_slot`) counts its numbers below SYSCALL_RESIDENT_NRS in that
 * CPU's entry itself. Userspace reads both places; to move the resident
 * place to another slot it first clears `resident_slot`, waits for every
 * run that may have read the old value to end (an RCU grace period: each
 * run is an RCU read-side section), then adds what is left there to the old
 * slot's counts and zeroes it (see SyscallProbe::place_resident_counts).
 * And outside latency windows, a thread that a CPU already found without a
 * stamp since the last window closed is not looked up again there: stamps
 * are made only inside windows, each of which bumps window_gen.
 *
 * One page per syscall: each CPU's syscall_cache entry also holds what the
 * programs used to read from their read-only data and globals (the timed
 * bitmap, sampling's settings, the counting slots, the epochs and the window
 * state), copied there by userspace, which writes every CPU's copy. On VMs
 * that flush the TLB at every kernel entry each further page a program
 * touches costs a fill of its own.
 *
 * Built twice (see CMakeLists.txt); userspace loads the newest the kernel takes:
 *  - TRACER_BPF_MODERN (5.11+): tp_btf hooks, the in-flight slot in task-local
 *    storage (no hash lookup, freed with the task), BTF-typed direct loads for
 *    the cgroup key and the syscall number (no bpf_probe_read per field).
 *  - otherwise (5.8+): raw_tp hooks, a hash keyed by thread id, CO-RE probe
 *    reads, and sched_process_exit to release slots.
 */
#include "kernel_types.h"
#include "syscalls.h"
#include "bits.bpf.h"
#include "cgroup_key.bpf.h"
#include "hooks.bpf.h"
#include "maps.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The probe's settings and generations live in each CPU's syscall_cache
 * entry (see syscalls.h), written by userspace: a syscall touches no page of
 * read-only data or globals on its usual paths. */

/* Latency windows (see the top): exit and exit_group are counted when their
 * thread exits (tracer_sys_task_exit) instead of at sys_enter, which is
 * detached most of the time. 5.11+ build only; set by userspace. */
const volatile bool exits_at_task_exit = false;

#if defined(__TARGET_ARCH_x86)
#define NR_EXIT 60
#define NR_EXIT_GROUP 231
#define NR_RT_SIGRETURN 15
#elif defined(__TARGET_ARCH_arm64)
#define NR_EXIT 93
#define NR_EXIT_GROUP 94
#define NR_RT_SIGRETURN 139
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by userspace before load */
	__type(key, struct syscall_key);
	__type(value, struct syscall_stats);
} syscall_stats SEC(".maps");

#ifdef TRACER_BPF_MODERN
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_inflight);
} syscall_inflight SEC(".maps");
#else
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768); /* resized by userspace before load */
	__type(key, __u32);
	__type(value, struct syscall_inflight);
} syscall_inflight SEC(".maps");
#endif

/* [cpu][slot][nr] counts, sized by userspace before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

/* cgroup key -> its slot in syscall_counts */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
} syscall_slots SEC(".maps");

/* Slots no cgroup holds, filled by userspace at load */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1);
	__type(value, __u32);
} syscall_free_slots SEC(".maps");

/* Per CPU (indexed by CPU, not a per-CPU map: the lookup is inlined);
 * userspace maps it to write its part of each entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syscall_cpu_cache);
} syscall_cache SEC(".maps");

/* One record (the CPU) wakes the window thread: a CPU used up its share of
 * the syscalls a quiet host makes in a period (see sys_enter). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} syscall_busy SEC(".maps");

DROP_COUNTERS(syscall_drops, SYSCALL_DROP_REASONS);

static __always_inline struct syscall_stats *stats_for_key(__u64 cgroup_key, __u32 nr)
{
	struct syscall_key key = {
		.cgroup_id = cgroup_key,
		.nr = nr < SYSCALL_NR_OTHER ? nr : SYSCALL_NR_OTHER,
	};
	static const struct syscall_stats zero;
	return lookup_or_init(&syscall_stats, &key, &zero, &syscall_drops, SYSCALL_DROP_STATS_FULL);
}

static __always_inline struct syscall_stats *stats_for(__u32 nr)
{
	return stats_for_key(current_cgroup_key(), nr);
}

/* Fills `c` for the current task, whose cgroup is `ident` (task_cgroup_ident):
 * its cgroup key and counting slot (into *key and *slot too), taking a free
 * slot for a cgroup seen the first time. */
static __always_inline void cache_cgroup(struct syscall_cpu_cache *c, __u64 ident, __u64 *key_out,
					 __u32 *slot_out)
{
	__u64 key = current_cgroup_key();
	__u32 epoch = c->slot_epoch;
	__u32 fast_slots = c->fast_slots;
	__u32 slot = SYSCALL_SLOT_NONE;
	/* none left: this cgroup counts in the hash */
	if (!fast_slots || !counting_slot(&syscall_slots, &syscall_free_slots, key, &slot) || slot >= fast_slots)
		slot = SYSCALL_SLOT_NONE;
	c->cgroup_ident = ident;
	c->cgroup_key = key;
	c->slot = slot;
	c->slot_epoch_seen = epoch;
	*key_out = key;
	*slot_out = slot;
}

/* The current thread's in-flight slot. */
static __always_inline struct syscall_inflight *inflight_slot(void)
{
#ifdef TRACER_BPF_MODERN
	return bpf_task_storage_get(&syscall_inflight, bpf_get_current_task_btf(), 0, 0);
#else
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	return bpf_map_lookup_elem(&syscall_inflight, &tid);
#endif
}

/* The same, created on demand; NULL (counted) when it cannot be. */
static __always_inline struct syscall_inflight *inflight_slot_or_create(void)
{
#ifdef TRACER_BPF_MODERN
	struct syscall_inflight *in = bpf_task_storage_get(&syscall_inflight, bpf_get_current_task_btf(), 0,
							   BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!in)
		count_drop(&syscall_drops, SYSCALL_DROP_INFLIGHT_FULL);
	return in;
#else
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	static const struct syscall_inflight fresh;
	return lookup_or_init(&syscall_inflight, &tid, &fresh, &syscall_drops, SYSCALL_DROP_INFLIGHT_FULL);
#endif
}

/* The number of the syscall a thread is in, from its saved registers. One
 * exit reports -1: rt_sigreturn restores the registers the signal interrupted
 * and sets the number to -1 there (so that no syscall is restarted), and so
 * exits as -1; counted as rt_sigreturn (instead of `other`) and timed with its
 * own stamp. (A ptrace tracer that skips a call by setting -1 is counted so too.) */
static __always_inline __u32 syscall_nr_of(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	__u32 nr = (__u32)KREAD(regs, orig_ax);
#else
	__u32 nr = (__u32)KREAD(regs, syscallno);
#endif
	return nr == (__u32)-1 ? NR_RT_SIGRETURN : nr;
}

static __always_inline bool is_timed(struct syscall_cpu_cache *c, __u32 nr)
{
	if (nr > SYSCALL_NR_OTHER)
		nr = SYSCALL_NR_OTHER;
	barrier_var(nr);
	/* the mask (SYSCALL_TIMED_WORDS is a power of two) is what the verifier sees */
	return (c->timed[(nr / 64) & (SYSCALL_TIMED_WORDS - 1)] >> (nr % 64)) & 1;
}

/* Sampling's token for an unstamped entry of `task`, the current thread: the
 * thread and its switch count (voluntary + involuntary switches). The same thread's token is unchanged
 * until it next leaves the CPU, which it must do to block or to move to
 * another CPU; one 64-bit word, so a preempted writer cannot tear it.
 * Multiplying by an odd constant is a bijection: for one thread, equal tokens
 * mean equal switch counts. */
static __always_inline __u64 unstamped_token(struct task_struct *task)
{
	__u64 switches = KREAD(task, nvcsw) + KREAD(task, nivcsw);
	/* the address as a plain number: the verifier refuses arithmetic on
	 * the BTF pointer `task` */
	return bpf_get_current_task() ^ (switches * 0x9e3779b97f4a7c15ULL);
}

/* A pseudo-random number from the CPU's own xorshift state, for sampling:
 * drawn rather than every n-th call, so that a thread repeating a pattern of
 * calls (15 reads, then an fsync) has each call timed as often as any other. */
static __always_inline __u64 sample_draw(struct syscall_cpu_cache *c)
{
	__u64 x = c->sample_rand;
	if (!x)
		x = bpf_get_prandom_u32() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->sample_rand = x;
	return x >> 32;
}

/* Sampling's count on this CPU passes to `task`, which entered a timed call
 * here after another thread did, or at the start of a period. The thread
 * that leaves keeps its count for the period in one of the CPU's
 * SYSCALL_BUSY_THREADS entries: its own, else the one of the fewest calls if
 * that is fewer than its own (another period's entry counts none). `task`
 * takes up its count from its entry, or starts from 0. Busy threads that
 * take turns on a CPU (a pool of workers, a server and the node's daemons
 * waking now and then, the agent itself) are then not timed afresh each time
 * they come back, which would stamp `sample_after` more of their calls per
 * return; with more than four taking turns on one CPU, some are. */
static __always_inline void sample_switch(struct syscall_cpu_cache *c, __u64 task, __u32 period)
{
	__u64 out = c->sample_task;
	__u32 out_calls = c->sample_period == period ? c->sample_calls : 0;
	__u32 fewest = out_calls, calls = 0;
	int save = -1, own = -1;
#pragma unroll
	for (int i = 0; i < SYSCALL_BUSY_THREADS; i++) {
		struct syscall_sample_count *b = &c->busy[i];
		__u32 n = b->period == period ? b->calls : 0;
		if (b->task == task && n)
			calls = n;
		if (b->task == out)
			own = i;
		else if (n < fewest) {
			fewest = n;
			save = i;
		}
	}
	if (own >= 0)
		save = own;
	if (out && out_calls && save >= 0) {
		/* (the mask: a bound the verifier sees) */
		struct syscall_sample_count *b = &c->busy[save & (SYSCALL_BUSY_THREADS - 1)];
		b->task = out;
		b->calls = out_calls;
		b->period = period;
	}
	c->sample_task = task;
	c->sample_period = period;
	c->sample_calls = calls;
}

HOOK("sys_enter")
int BPF_PROG(tracer_sys_enter, struct pt_regs *regs, long nr)
{
	if (nr == NR_EXIT || nr == NR_EXIT_GROUP) {
		/* never returns: count it here (or at the thread's exit), it has no latency */
		if (exits_at_task_exit)
			return 0;
		struct syscall_stats *st = stats_for((__u32)nr);
		if (st)
			st->count += 1;
		return 0;
	}
	__u32 cpu = bpf_get_smp_processor_id();
	struct syscall_cpu_cache *c = bpf_map_lookup_elem(&syscall_cache, &cpu);
	if (!c)
		return 0;
	__u32 enters = ++c->enters; /* (a lost increment between preempting tasks only blurs a rate) */
	if (c->busy_armed && (__s32)(enters - c->busy_at) >= 0) {
		/* sys_enter held attached, and this CPU alone has made more calls
		 * than a quiet host would: userspace asks again now, not at the
		 * period's end (once: it re-arms if the host is still quiet) */
		c->busy_armed = 0;
		bpf_ringbuf_output(&syscall_busy, &cpu, sizeof(cpu), BPF_RB_FORCE_WAKEUP);
	}
	if (!is_timed(c, (__u32)nr))
		return 0;
	__u32 weight = 1;
	__u32 sample_after = c->sample_after;
	if (sample_after) {
		/* counted per CPU, for the thread that entered last (see the top) */
		struct task_struct *task = current_task();
		__u32 period = c->sample_by_window ? c->exit_gen
						   : (__u32)(bpf_jiffies64() >> SYSCALL_SAMPLE_PERIOD_SHIFT);
		if (c->sample_task != (__u64)task || c->sample_period != period)
			sample_switch(c, (__u64)task, period);
		__u32 calls = ++c->sample_calls;
		if (calls > sample_after) {
			__u32 mask = c->sample_mask;
			if (sample_draw(c) & mask) {
				/* counted at sys_exit, not timed; no stamp to look for */
				c->unstamped = unstamped_token(task);
				return 0;
			}
			weight = mask + 1;
		}
		c->unstamped = 0;
	}
	/* A run that began as the window closed stamps nothing: sys_exit may
	 * already skip this thread (see the top). */
	if (!c->window_open)
		return 0;
	struct syscall_inflight *in = inflight_slot_or_create();
	if (!in)
		return 0;
	in->weight = weight;
	in->nr = (__u32)nr;
	in->start_ns = bpf_ktime_get_ns();
	c->stamps += 1;
	return 0;
}

HOOK("sys_exit")
int BPF_PROG(tracer_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 nr = syscall_nr_of(regs);
	__u64 latency = 0, weight = 1;
	struct task_struct *task = current_task();
	__u32 cpu = bpf_get_smp_processor_id();
	struct syscall_cpu_cache *c = bpf_map_lookup_elem(&syscall_cache, &cpu);
	bool timed = c && is_timed(c, nr);

	if (timed) {
		/* (timed: c is not NULL) */
		__u32 gen = c->window_gen;
		bool closed = !c->window_open;
		timed = false;
		c->exit_gen = gen; /* sampling's period in sys_enter, with windows */
		/* outside windows, a thread found without a stamp has none; a thread
		 * that entered this call unstamped and has not left the CPU since
		 * has none either (see the top) */
		bool none = closed && c->task == (__u64)task && c->closed_gen == gen;
		if (!none && c->sample_after) {
			__u64 token = unstamped_token(task);
			none = token && c->unstamped == token;
		}
		if (!none) {
			struct syscall_inflight *in = inflight_slot();
			/* not sampled, or entered while sys_enter was detached: counted only */
			if (in && in->start_ns) {
				if (in->nr == nr) { /* a stamp of another syscall is stale (see the top) */
					latency = bpf_ktime_get_ns() - in->start_ns;
					weight = in->weight;
					timed = true;
				}
				in->start_ns = 0;
			}
			if (closed) {
				c->task = (__u64)task;
				c->closed_gen = gen;
			}
		}
	}

	__u64 cgroup_key;
	bool failed = ret < 0 && ret >= -4095;
	if (c) {
		/* copied before use: on a preemptible kernel another task's
		 * syscall on this CPU may refill the cache meanwhile */
		__u64 ident = task_cgroup_ident(task);
		__u32 slot = c->slot;
		cgroup_key = c->cgroup_key;
		__u32 fast_slots = c->fast_slots;
		if (c->cgroup_ident != ident || !ident || c->slot_epoch_seen != c->slot_epoch)
			cache_cgroup(c, ident, &cgroup_key, &slot);
		if (!timed && !failed && nr < SYSCALL_FAST_NRS && slot < fast_slots) {
			if (slot == c->resident_slot && nr < SYSCALL_RESIDENT_NRS) {
				c->resident[nr] += 1; /* (on this page: no other one touched) */
				return 0;
			}
			__u32 i = (cpu * fast_slots + slot) * SYSCALL_FAST_NRS + nr;
			__u64 *n = bpf_map_lookup_elem(&syscall_counts, &i);
			if (n) {
				*n += 1;
				return 0;
			}
		}
	} else {
		cgroup_key = current_cgroup_key();
	}

	struct syscall_stats *st = stats_for_key(cgroup_key, nr);
	if (!st)
		return 0;
	st->count += 1;
	if (failed)
		st->errors += 1;
	if (timed && c) { /* (timed: c is not NULL; said again for the verifier) */
		__u64 epoch = c->max_epoch;
		st->total_ns += latency * weight;
		if (st->max_epoch != epoch) {
			st->max_epoch = epoch;
			st->max_ns = latency;
		} else if (latency > st->max_ns) {
			st->max_ns = latency;
		}
		__u32 slot = log2_slot(latency, SYSCALL_LATENCY_SLOTS);
		/* clang drops the check below (log2_slot already clamps) and
		 * bounds a copy of the register instead; verifiers before ~6.18
		 * then reject the index as unbounded. Keep the check. */
		barrier_var(slot);
		if (slot < SYSCALL_LATENCY_SLOTS)
			st->slots[slot] += weight;
	}
	return 0;
}

#ifdef TRACER_BPF_MODERN
/* exit and exit_group never reach sys_exit. With latency windows they are
 * counted here, in the exiting thread, whose saved registers still hold the
 * number of the syscall it is in: exit or exit_group for a thread that called
 * them; another syscall's, or none, for a thread killed by a signal or by
 * another thread's exit_group (those made no exit call). bpf_task_pt_regs:
 * 5.15+, which userspace checks before loading this program. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tracer_sys_task_exit, struct task_struct *p)
{
	if (!exits_at_task_exit)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u32 nr = syscall_nr_of(regs);
	if (nr != NR_EXIT && nr != NR_EXIT_GROUP)
		return 0;
	struct syscall_stats *st = stats_for(nr);
	if (st)
		st->count += 1;
	return 0;
}
#else
/* A thread that exits mid-syscall (or just exits) must not leave its slot
 * behind. (Task storage is freed with the task.) */
SEC("raw_tp/sched_process_exit")
int tracer_sys_thread_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&syscall_inflight, &tid);
	return 0;
}
#endif
