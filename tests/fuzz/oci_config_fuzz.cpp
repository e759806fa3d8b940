// libFuzzer target: any bytes as an OCI bundle's config.json (containerd,
// CRI-O). Malformed input gives nullopt or a ContainerInfo; never a crash.
#include "containers/oci_bundle.h"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/tmp/tracer-fuzz-oci-" + std::to_string(getpid()) + ".json";
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    auto info = tracer::containers::read_oci_bundle_config(path, "0123456789abcdef");
    if (info && info->id.empty()) __builtin_trap();
    return 0;
}
