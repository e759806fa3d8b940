/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/proc.bpf.c and userspace/probes/proc_probe.cpp.
 * Plain C, fixed-width types, explicit padding: both compilers must agree.
 *
 * Every ring-buffer record starts with struct proc_event; `kind` says which of
 * the structs below the record is (records have different sizes: only exec
 * carries a file name).
 */
#ifndef TRACER_PROC_H
#define TRACER_PROC_H

#include <linux/types.h>

#define PROC_COMM_LEN 16      /* TASK_COMM_LEN */
#define PROC_FILENAME_LEN 256 /* exec path, truncated beyond this (NUL included) */

enum proc_event_kind {
	PROC_EVENT_EXEC = 1,
	PROC_EVENT_FORK = 2, /* a new process (not a thread) */
	PROC_EVENT_EXIT = 3, /* a process ended: its thread-group leader exited */
	PROC_EVENT_OOM = 4,  /* the OOM killer chose a victim */
};

/* The task an event is about: exec: the new image; fork: the child; exit: the
 * exiting leader; OOM: the victim. */
struct proc_event {
	__u32 kind;          /* enum proc_event_kind */
	__u32 pid;           /* thread id (global pid namespace) */
	__u32 tgid;          /* process id */
	__u32 ppid;          /* tgid of real_parent */
	__u64 cgroup_id;     /* cgroup key (see cgroup_key.bpf.h) of the task */
	__u64 timestamp_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	char comm[PROC_COMM_LEN];
};

struct proc_exec_event {
	struct proc_event hdr;
	__u32 old_pid; /* thread id before exec (differs when a non-leader thread execs) */
	__u32 pad;
	char filename[PROC_FILENAME_LEN]; /* bprm->filename, NUL-terminated */
};

struct proc_exit_event {
	struct proc_event hdr;
	__s32 exit_code;   /* task->exit_code: a wait status (status << 8, or the signal) */
	__u32 pad;
	__u64 lifetime_ns; /* now - task->start_time */
};

/* The OOM victim was marked, or (PROC_OOM_AT_EXIT) it exited after being marked. */
#define PROC_OOM_AT_EXIT 1u

struct proc_oom_event {
	struct proc_event hdr;
	__u64 memcg_id;       /* the victim's memory-controller cgroup key (0: no memcg) */
	__u64 total_vm_pages; /* the victim's mm->total_vm; 0 when unknown (PROC_OOM_AT_EXIT) */
	__u32 trigger_tgid;   /* the process whose allocation invoked the OOM killer */
	__u32 flags;          /* PROC_OOM_* */
};

/* Per cgroup key, per CPU: summed by userspace. */
struct proc_counts {
	__u64 execs;
	__u64 forks;     /* processes only; new threads are not counted */
	__u64 exits;     /* thread-group leaders only */
	__u64 oom_kills; /* OOM victims, under the victim's key */
};

/* A victim marked by an oom:mark_victim that only names its pid (older
 * kernels): reported when that thread exits. Keyed by thread id. */
struct proc_oom_pending {
	__u64 marked_ns;
	__u32 trigger_tgid;
	__u32 pad;
};

/* Indexes of the per-CPU `proc_drops` array. */
enum proc_drop_reason {
	PROC_DROP_RINGBUF_FULL = 0,    /* ring buffer full: event lost (still counted) */
	PROC_DROP_COUNTS_FULL = 1,     /* proc_counts map full: event not counted */
	PROC_DROP_OOM_PENDING_FULL = 2, /* proc_oom_pending update failed: OOM victim lost */
	PROC_DROP_REASONS = 3,
};

#endif /* TRACER_PROC_H */
