// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup creation and removal, for naming cgroups that live shorter than a
 * cgroupfs scan (a container that runs for one second): cgroup:cgroup_mkdir
 * and cgroup:cgroup_rmdir pass (struct cgroup *, const char *path), the path
 * relative to the hierarchy's root as cgroupfs shows it. Only the hierarchy
 * that keys per-cgroup data (`hierarchy_id`: 0 for cgroup v2, else the v1
 * hierarchy's id from /proc/cgroups) is reported. Rare events: submitted
 * without a wake-up, drained by the agent once per interval before it names
 * the interval's keys. A full ring loses the record (counted in
 * cgroup_event_drops); the cgroup is then named by the next scan as before.
 *
 * One build for every kernel >= 5.8 (raw_tp + CO-RE reads): two probe reads
 * per cgroup created are not worth a second variant.
 *
 * tracer-builds: baseline
 */
#include "kernel_types.h"
#include "cgroup_events.h"
#include "maps.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __s32 hierarchy_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024); /* ~1900 records per interval before a drop */
} cgroup_events SEC(".maps");

DROP_COUNTERS(cgroup_event_drops, 1);

static __always_inline int report(struct bpf_raw_tracepoint_args *ctx, __u32 kind)
{
	struct cgroup___ev *cgrp = (struct cgroup___ev *)ctx->args[0];
	const char *path = (const char *)ctx->args[1];
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != hierarchy_id)
		return 0;
	struct cgroup_event *e = bpf_ringbuf_reserve(&cgroup_events, sizeof(*e), 0);
	if (!e) {
		count_drop(&cgroup_event_drops, 0);
		return 0;
	}
	e->kind = kind;
	e->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	long n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	e->path_len = n > 0 ? (__u32)n : 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("raw_tp/cgroup_mkdir")
int tracer_cgroup_mkdir(struct bpf_raw_tracepoint_args *ctx)
{
	return report(ctx, CGROUP_EVENT_MKDIR);
}

SEC("raw_tp/cgroup_rmdir")
int tracer_cgroup_rmdir(struct bpf_raw_tracepoint_args *ctx)
{
	return report(ctx, CGROUP_EVENT_RMDIR);
}
