// Syscall numbers <-> names for the architecture tracer was built for
// (x86_64 or arm64), from the build target's <asm/unistd.h>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracer::probes {

// "getppid"; for numbers without a name "sys_<nr>"; SYSCALL_NR_OTHER -> "other".
std::string syscall_name(uint32_t nr);
std::optional<uint32_t> syscall_number(std::string_view name);
// Numbers of `names`; nullopt when `names` holds "*" (all). Names that are no
// syscall on this architecture are appended to `unknown`.
std::optional<std::vector<uint32_t>> syscall_numbers(const std::vector<std::string>& names,
                                                     std::vector<std::string>& unknown);

// Largest syscall number known for this architecture.
uint32_t max_syscall_number();

}  // namespace tracer::probes
