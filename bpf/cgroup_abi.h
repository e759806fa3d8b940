/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* How BPF programs derive the cgroup key; shared with userspace. */
#ifndef TRACER_CGROUP_ABI_H
#define TRACER_CGROUP_ABI_H

enum cgroup_key_mode {
	CGROUP_KEY_DEFAULT = 0,   /* bpf_get_current_cgroup_id(): cgroup v2 */
	CGROUP_KEY_V1_SUBSYS = 1, /* kernfs id of the task's cgroup in one v1 hierarchy */
};

#endif
