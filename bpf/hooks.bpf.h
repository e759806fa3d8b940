/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The two builds of an area (see cmake/BpfSkeleton.cmake), in one place:
 *  - TRACER_BPF_MODERN (5.11+): tp_btf hooks; their arguments are BTF-typed,
 *    so kernel fields are plain (fault-safe) loads, no helper call per field;
 *  - otherwise (5.8+): raw_tp hooks and CO-RE probe reads.
 * HOOK(tp) names the section; KREAD(p, field) reads one field of a kernel
 * struct that a hook argument points to, KREAD2(p, a, b) reads p->a->b.
 */
#ifndef TRACER_HOOKS_BPF_H
#define TRACER_HOOKS_BPF_H

#include "kernel_types.h"
#include <bpf/bpf_core_read.h>

#ifdef TRACER_BPF_MODERN
#define HOOK(tp) SEC("tp_btf/" tp)
#define KREAD(p, field) ((p)->field)
#define KREAD2(p, a, b) ((p)->a->b)
#else
#define HOOK(tp) SEC("raw_tp/" tp)
#define KREAD(p, field) BPF_CORE_READ(p, field)
#define KREAD2(p, a, b) BPF_CORE_READ(p, a, b)
#endif

/* A task's state: `__state` since 5.14, `state` before (CO-RE flavour). */
static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return KREAD(t, __state);
	struct task_struct___pre514 *old = (void *)t;
	return KREAD(old, state);
}

#endif /* TRACER_HOOKS_BPF_H */
