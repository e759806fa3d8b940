// Prometheus text exposition format 0.0.4 for the shared metric model.
#pragma once

#include <string>
#include <string_view>

#include "metrics/series.h"

namespace tracer::metrics {

// "tracer.syscall.duration" + "seconds" (histogram) -> "tracer_syscall_duration_seconds";
// "tracer.syscalls" (counter) -> "tracer_syscalls_total". Characters outside
// [a-zA-Z0-9_:] become '_'; a leading digit gets a '_' prefix.
std::string prometheus_name(const Family& family);

// A label name as /metrics writes it: characters outside [a-zA-Z0-9_] become
// '_', a leading digit gets a '_' prefix. Other renderers of the Prometheus
// convention (remote write) use these two so their series equal /metrics'.
std::string prometheus_label_name(std::string_view name);
// A sample value, or an `le` / `quantile` label value, as /metrics writes it.
void append_prometheus_number(std::string& out, double v);

// Appends every family that has at least one sample to `out` (HELP, TYPE,
// samples; histograms as cumulative _bucket lines plus _sum and _count).
// Families that map to the same name are both rendered: the caller's bug.
void render_prometheus_text(const Snapshot& snapshot, std::string& out);

}  // namespace tracer::metrics
