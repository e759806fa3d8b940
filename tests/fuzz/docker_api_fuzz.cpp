// libFuzzer target: any bytes as what the Docker Engine API answers: a
// container inspect body, a container list and lines of the /events stream.
// Malformed input may only give a DockerError (inspect) or nothing (list, events).
#include "containers/docker_client.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string body(reinterpret_cast<const char*>(data), size);
    try {
        tracer::containers::ContainerInfo info = tracer::containers::parse_docker_inspect(body);
        if (info.id.empty()) __builtin_trap();  // inspect promises an id or an error
    } catch (const tracer::containers::DockerError&) {
    }
    for (const auto& id : tracer::containers::container_ids_of_list(body))
        if (id.empty()) __builtin_trap();
    std::string_view rest(body);
    while (!rest.empty()) {  // the stream: one JSON object per line
        size_t nl = rest.find('\n');
        (void)tracer::containers::container_id_of_event(std::string(rest.substr(0, nl)));
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    return 0;
}
