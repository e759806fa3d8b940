// libFuzzer target: any bytes as a cgroup path (docker, podman, containerd,
// CRI-O, systemd and kubepods layouts): a container reference or none.
#include "containers/cgroup_path_parser.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view path(reinterpret_cast<const char*>(data), size);
    auto ref = tracer::containers::container_from_cgroup_path(path);
    (void)ref;
    return 0;
}
