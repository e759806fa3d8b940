/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Small arithmetic helpers shared by tracer's BPF programs. */
#ifndef TRACER_BITS_BPF_H
#define TRACER_BITS_BPF_H

#include "kernel_types.h"

/* Slot of `v` in a log2 histogram of `slots` slots: floor(log2(v)), the last
 * slot also taking everything larger. Branch-light, like libbpf-tools'
 * bits.bpf.h. Callers that index an array with the result must keep their own
 * bound check (see barrier_var in syscalls.bpf.c): older verifiers do not see
 * this clamp. */
static __always_inline __u32 log2_slot(__u64 v, __u32 slots)
{
	__u32 r = 0, shift;
	shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r = shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	if (r >= slots)
		r = slots - 1;
	return r;
}

#endif /* TRACER_BITS_BPF_H */
