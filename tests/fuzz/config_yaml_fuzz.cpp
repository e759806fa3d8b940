// libFuzzer target: any bytes as tracer.yaml. The only acceptable failure is
// a ConfigError (one clear message naming the key or line); any other
// exception, crash or sanitizer report is a bug.
#include "config/agent_config.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        tracer::config::AgentConfig cfg = tracer::config::parse_agent_config(text, "fuzz.yaml");
        (void)cfg;
    } catch (const tracer::config::ConfigError&) {
    }
    return 0;
}
