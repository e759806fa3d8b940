/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/syscalls.bpf.c and userspace/probes/syscall_probe.cpp.
 * Plain C, fixed-width types, explicit padding: both compilers must agree.
 */
#ifndef TRACER_SYSCALLS_H
#define TRACER_SYSCALLS_H

#include <linux/types.h>

/* log2 latency histogram: slot i counts syscalls with latency in [2^i, 2^(i+1)) ns;
 * the last slot also takes everything longer (2^35 ns ~ 34 s). */
#define SYSCALL_LATENCY_SLOTS 36

/* Syscall numbers at or above this are folded into it (x32 and bogus numbers
 * must not blow up the key space). */
#define SYSCALL_NR_OTHER 1023

struct syscall_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 pad;
};

struct syscall_stats {
	__u64 count;
	__u64 errors;   /* returns in [-4095, -1] */
	__u64 total_ns; /* summed latency; only when latency tracking is on */
	__u64 max_ns;   /* max latency within interval `max_epoch` */
	__u64 max_epoch;
	__u64 slots[SYSCALL_LATENCY_SLOTS];
};

/* Words of the `timed_syscalls` bitmap: one bit per syscall number, the bit of
 * SYSCALL_NR_OTHER standing for every number above it. */
#define SYSCALL_TIMED_WORDS ((SYSCALL_NR_OTHER + 1) / 64)

/* Latency sampling (see syscalls.bpf.c): a CPU counts the timed syscalls of
 * the thread it last saw per period of 2^SYSCALL_SAMPLE_PERIOD_SHIFT jiffies. */
#define SYSCALL_SAMPLE_PERIOD_SHIFT 4

/* In-flight timed syscall of one thread (latency mode). start_ns == 0: none. */
struct syscall_inflight {
	__u64 start_ns;
	__u32 weight; /* how many calls the one being timed stands for */
	__u32 nr;     /* the syscall stamped: only its own exit may use the stamp */
};

/* Fast counting (see syscalls.bpf.c): a cgroup holding a counting slot has
 * one counter per syscall number below this, per CPU, in `syscall_counts`. */
#define SYSCALL_FAST_NRS 512
#define SYSCALL_SLOT_NONE 0xffffffffu

/* A thread's sampling count on one CPU, kept while other threads enter
 * timed calls there. */
#define SYSCALL_BUSY_THREADS 4 /* a power of two: sample_switch masks with it */
struct syscall_sample_count {
	__u64 task;   /* the thread (task_struct address; 0: none) */
	__u32 calls;  /* its timed calls here ... */
	__u32 period; /* ... in this period */
};

/* Resident counts: each CPU's entry ends with one more set of counters, for
 * the syscall numbers below this, of the one counting slot userspace made
 * resident on that CPU (`resident_slot`): sys_exit then counts a call of that
 * slot on the page it reads anyway instead of on the slot's own page of
 * `syscall_counts` (see syscalls.bpf.c). */
#define SYSCALL_RESIDENT_NRS 448

/* Each CPU's entry of `syscall_cache`: everything a syscall's programs read
 * and write on their usual paths, in one place (one page): what they remember
 * between two syscalls, userspace's copies of the probe's settings and
 * generations, and the resident slot's counts. On a VM that flushes the TLB
 * at every kernel entry each other page (the programs' read-only data, their
 * globals, a count array) costs a fill of its own. One page per CPU: the
 * array is page-aligned, so no entry straddles two. */
struct syscall_cpu_cache {
	/* line 0, written by the programs: all that a syscall usually needs */
	__u64 cgroup_ident;  /* the cgroup these describe, as task_cgroup_ident gives it (0: none yet) */
	__u64 cgroup_key;
	__u32 slot;          /* counting slot, or SYSCALL_SLOT_NONE: the hash */
	__u32 slot_epoch_seen; /* `slot_epoch` when the slot was looked up */
	__u32 sample_calls;  /* timed syscalls `sample_task` entered here ... */
	__u32 sample_period; /* ... in this period (window generation, or jiffies >> shift) */
	__u64 sample_task;
	__u64 unstamped;     /* token of the thread and switch count of an unstamped entry (0: none) */
	__u64 sample_rand;   /* xorshift state of sampling's draws (0: not seeded) */
	__u32 exit_gen;      /* window_gen as sys_exit last read it here */
	__u32 enters;        /* syscalls sys_enter saw here (wraps): the host's rate, for the windows */
	/* line 1, written by userspace (the same on every CPU) */
	__u64 max_epoch;     /* bumped after each read of syscall_stats: max_ns is per interval */
	__u32 slot_epoch;    /* bumped before a counting slot handed back is reused */
	__u32 window_gen;    /* bumped as a latency window opens */
	__u32 window_open;   /* set while a window is (or may be) open; always without windows */
	__u32 sample_after;  /* latency sampling (see syscalls.bpf.c); 0: every call timed */
	__u32 sample_mask;   /* sample_every - 1 (a power of two) */
	__u32 sample_by_window; /* sampling's period is the window, not 16 jiffies */
	__u32 fast_slots;    /* counting slots (0: every count goes to the hash) */
	__u32 busy_armed;    /* set by userspace while a quiet host keeps sys_enter attached; */
	__u32 busy_at;       /* sys_enter clears it and wakes userspace once `enters` reaches this */
	__u32 resident_slot; /* the counting slot whose counts are `resident` (SYSCALL_SLOT_NONE: none) */
	__u32 pad3[4];
	/* lines 2-3, written by userspace: the syscalls that are timed (latency
	 * mode; all zero in count-only mode), one bit per number */
	__u64 timed[SYSCALL_TIMED_WORDS];
	/* line 4, written by sys_exit outside windows */
	__u64 task;          /* thread known to hold no stamp ... */
	__u64 closed_gen;    /* ... since the window of this generation closed */
	__u64 stamps;        /* calls sys_enter stamped here (a statistic: a racing increment may be lost) */
	__u64 pad2[5];
	/* line 5, written by sys_enter when another thread enters a timed call
	 * here: the sampling counts of the busiest threads that left (see
	 * sample_switch in syscalls.bpf.c) */
	struct syscall_sample_count busy[SYSCALL_BUSY_THREADS];
	/* lines 6-7: unused */
	__u64 pad4[16];
	/* lines 8-63, written by sys_exit: this CPU's counts of `resident_slot`
	 * for the numbers below SYSCALL_RESIDENT_NRS (the others stay in
	 * syscall_counts) */
	__u64 resident[SYSCALL_RESIDENT_NRS];
};

/* Indexes of the per-CPU `syscall_drops` array: every failed map update. */
enum syscall_drop_reason {
	SYSCALL_DROP_STATS_FULL = 0,    /* syscall_stats map full: event not counted */
	SYSCALL_DROP_INFLIGHT_FULL = 1, /* syscall_inflight map full: latency not measured */
	SYSCALL_DROP_REASONS = 2,
};

#endif /* TRACER_SYSCALLS_H */
