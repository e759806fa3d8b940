// libFuzzer target: any bytes as the /proc and cgroup files the agent parses:
// /proc/self/mountinfo (the cgroup layout), /proc/cgroups (subsystem ids) and
// /proc/<pid>/cgroup (a DogStatsD sender's origin). Written to a file in a
// private directory that stands for /proc, then read the agent's way.
#include "containers/cgroup_layout.h"
#include "statsd/process_origin.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace {

bool write_file(const std::string& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string root = "/tmp/tracer-fuzz-proc-" + std::to_string(getpid());
    static const bool made = mkdir(root.c_str(), 0700) == 0 || access(root.c_str(), F_OK) == 0;
    static const bool made_pid = mkdir((root + "/1").c_str(), 0700) == 0 || access((root + "/1").c_str(), F_OK) == 0;
    if (!made || !made_pid) return 0;
    const std::string file = root + "/1/cgroup";
    if (!write_file(file, data, size)) return 0;
    auto layout = tracer::containers::read_cgroup_layout(file);
    (void)layout.describe();
    (void)tracer::containers::subsys_id_of(file, "memory");
    (void)tracer::statsd::cgroup_labels_of_pid(1, "unified", root);
    (void)tracer::statsd::cgroup_labels_of_pid(1, "memory", root);
    return 0;
}
