/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/cgroup_events.bpf.c and userspace/probes/cgroup_events_probe.cpp.
 * Plain C, fixed-width types, explicit padding.
 */
#ifndef TRACER_CGROUP_EVENTS_H
#define TRACER_CGROUP_EVENTS_H

#include <linux/types.h>

#define CGROUP_EVENT_PATH_LEN 512 /* path relative to the hierarchy root, NUL included */

enum cgroup_event_kind {
	CGROUP_EVENT_MKDIR = 1,
	CGROUP_EVENT_RMDIR = 2,
};

struct cgroup_event {
	__u32 kind;      /* enum cgroup_event_kind */
	__u32 path_len;  /* bytes of path, NUL included (bpf_probe_read_kernel_str) */
	__u64 cgroup_id; /* kernfs id = inode number = the cgroup key */
	char path[CGROUP_EVENT_PATH_LEN];
};

#endif
