/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The per-cgroup key every tracer program aggregates under.
 *
 * Userspace chooses the mode at start-up (see userspace/containers/cgroup_layout.*)
 * and sets these read-only globals before load:
 *  - CGROUP_KEY_DEFAULT: the task's cgroup in the v2 (default) hierarchy,
 *    bpf_get_current_cgroup_id(). Right on pure cgroup v2 hosts.
 *  - CGROUP_KEY_V1_SUBSYS: the task's cgroup in the v1 hierarchy that controller
 *    `cgroup_v1_subsys_id` is bound to, read with CO-RE:
 *    task->cgroups->subsys[id]->cgroup->kn->id. Right on v1 and hybrid hosts,
 *    where containers are told apart in the controller hierarchies.
 * Either way the key equals the inode number of the cgroup's directory, which is
 * how userspace maps it back to a path.
 */
#ifndef TRACER_CGROUP_KEY_BPF_H
#define TRACER_CGROUP_KEY_BPF_H

#include "kernel_types.h"
#include "cgroup_abi.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

const volatile __u32 cgroup_key_mode = CGROUP_KEY_DEFAULT;
const volatile __u32 cgroup_v1_subsys_id = 0;

/* The key of task `t` in the v1 hierarchy controller `ssid` is bound to (or
 * the v2 hierarchy, for a controller on it): task->cgroups->subsys[ssid]. */
static __always_inline __u64 task_subsys_cgroup_key(struct task_struct *t, __u32 ssid)
{
	if (ssid >= TRACER_CGROUP_SUBSYS_MAX)
		return 0;
#ifdef TRACER_BPF_MODERN
	/* BTF-typed pointers: plain (fault-safe) loads, no helper call per field */
	return t->cgroups->subsys[ssid]->cgroup->kn->id;
#else
	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	struct cgroup_subsys_state *css = NULL;
	if (bpf_core_read(&css, sizeof(css), &cset->subsys[ssid]))
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
#endif
}

/* What task `t`'s key follows from, as a number for caches to keep a key
 * under: the cgroup (v2) or the controller's css (v1) that its css_set points
 * to in the keyed hierarchy; 0 when it cannot be read. Not the css_set's own
 * address: a css_set is freed when its last task leaves, and one allocated
 * later for other cgroups may take that address, so a cache keyed on it
 * could count a task under the cgroups of a css_set that no longer exists.
 * This object belongs to one cgroup for its whole life. */
static __always_inline __u64 task_cgroup_ident(struct task_struct *t)
{
	__u32 ssid = cgroup_v1_subsys_id;
	if (cgroup_key_mode != CGROUP_KEY_DEFAULT && ssid >= TRACER_CGROUP_SUBSYS_MAX)
		return 0;
#ifdef TRACER_BPF_MODERN
	struct css_set *cset = t->cgroups;
	if (cgroup_key_mode == CGROUP_KEY_DEFAULT)
		return (__u64)cset->dfl_cgrp;
	return (__u64)cset->subsys[ssid];
#else
	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	__u64 ident = 0;
	if (cgroup_key_mode == CGROUP_KEY_DEFAULT)
		bpf_core_read(&ident, sizeof(ident), &cset->dfl_cgrp);
	else
		bpf_core_read(&ident, sizeof(ident), &cset->subsys[ssid]);
	return ident;
#endif
}

static __always_inline struct task_struct *current_task(void)
{
#ifdef TRACER_BPF_MODERN
	return bpf_get_current_task_btf();
#else
	return (struct task_struct *)bpf_get_current_task();
#endif
}

static __always_inline __u64 current_cgroup_key(void)
{
	if (cgroup_key_mode == CGROUP_KEY_DEFAULT)
		return bpf_get_current_cgroup_id();
	return task_subsys_cgroup_key(current_task(), cgroup_v1_subsys_id);
}

/* The key of any task `t` (sched_switch's prev and next, a woken task), as
 * current_cgroup_key() gives it for the current one. In the TRACER_BPF_MODERN
 * build `t` must be BTF-typed (a tp_btf argument): plain loads, no helper. */
static __always_inline __u64 task_cgroup_key(struct task_struct *t)
{
	if (cgroup_key_mode != CGROUP_KEY_DEFAULT)
		return task_subsys_cgroup_key(t, cgroup_v1_subsys_id);
#ifdef TRACER_BPF_MODERN
	return t->cgroups->dfl_cgrp->kn->id;
#else
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
#endif
}

#endif /* TRACER_CGROUP_KEY_BPF_H */
