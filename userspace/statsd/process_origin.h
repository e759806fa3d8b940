// The default origin of a Unix-socket sender: its cgroup, read from
// /proc/<pid>/cgroup, as the `cgroup` label the kernel metrics use (the path
// relative to the root of the hierarchy that keys them).
#pragma once

#include "metrics/series.h"

#include <sys/types.h>

#include <string>

namespace tracer::statsd {

// `hierarchy`: "unified" (the "0::" line) or a v1 controller ("memory").
// `proc_root`: "/proc" (or the host's, e.g. "/host/proc"). Empty labels if the
// process is gone (or has exited and is not reaped yet: the datagram outlived
// its sender) or is not in that hierarchy.
metrics::Labels cgroup_labels_of_pid(pid_t pid, const std::string& hierarchy, const std::string& proc_root = "/proc");

}  // namespace tracer::statsd
