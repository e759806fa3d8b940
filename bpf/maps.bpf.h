/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map plumbing every tracer BPF program shares: the per-CPU drop counters an
 * area declares, and lookup-or-init of a per-key value that counts, by
 * reason, every update the map refused (nothing is lost silently).
 */
#ifndef TRACER_MAPS_BPF_H
#define TRACER_MAPS_BPF_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

/* `name`: a per-CPU array of `reasons` counters (the area's enum of drop
 * reasons); userspace sums it over CPUs. */
#define DROP_COUNTERS(name, reasons)                                                                         \
	struct {                                                                                             \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                     \
		__uint(max_entries, reasons);                                                                \
		__type(key, __u32);                                                                          \
		__type(value, __u64);                                                                        \
	} name SEC(".maps")

static __always_inline void count_drops(void *drops, __u32 reason, __u64 count)
{
	__u64 *n = bpf_map_lookup_elem(drops, &reason);
	if (n)
		*n += count;
}

static __always_inline void count_drop(void *drops, __u32 reason)
{
	count_drops(drops, reason, 1);
}

/* The value of `key` in `map`, inserted as `init` first if missing. NULL when
 * the map is full, counted as `reason` in `drops`. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init, void *drops,
					    __u32 reason)
{
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	/* BPF_NOEXIST: another CPU may have inserted it meanwhile, which is fine. */
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		count_drop(drops, reason);
	return v;
}

/* Counting slots (syscalls.bpf.c, net.bpf.c): the slot of `key` in `slots`
 * (a key -> slot hash), taking one from the queue `free` the first time a key
 * is seen. False when none is left (the caller counts in its hash). */
static __always_inline bool counting_slot(void *slots, void *free, __u64 key, __u32 *slot)
{
	__u32 *held = bpf_map_lookup_elem(slots, &key);
	if (held) {
		*slot = *held;
		return true;
	}
	if (bpf_map_pop_elem(free, slot) != 0)
		return false;
	if (bpf_map_update_elem(slots, &key, slot, BPF_NOEXIST) == 0)
		return true;
	/* another CPU gave the key a slot meanwhile: hand ours back */
	bpf_map_push_elem(free, slot, 0);
	held = bpf_map_lookup_elem(slots, &key);
	if (!held)
		return false;
	*slot = *held;
	return true;
}

#endif /* TRACER_MAPS_BPF_H */
