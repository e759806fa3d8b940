#include "probes/syscall_names.h"

#include "bpf/syscalls.h"

#include <asm/unistd.h>

#include <algorithm>
#include <array>
#include <vector>

namespace tracer::probes {
namespace {

struct Entry {
    uint32_t nr;
    std::string_view name;
};

constexpr Entry kTable[] = {
#define TRACER_SYSCALL(n) {__NR_##n, #n},
#include "syscall_table.inc"
#undef TRACER_SYSCALL
};

const std::vector<std::string_view>& by_number() {
    static const std::vector<std::string_view> names = [] {
        uint32_t max = 0;
        for (const auto& e : kTable) max = std::max(max, e.nr);
        std::vector<std::string_view> v(max + 1);
        for (const auto& e : kTable) v[e.nr] = e.name;
        return v;
    }();
    return names;
}

}  // namespace

std::string syscall_name(uint32_t nr) {
    if (nr == SYSCALL_NR_OTHER) return "other";
    const auto& names = by_number();
    if (nr < names.size() && !names[nr].empty()) return std::string(names[nr]);
    return "sys_" + std::to_string(nr);
}

std::optional<uint32_t> syscall_number(std::string_view name) {
    for (const auto& e : kTable)
        if (e.name == name) return e.nr;
    return std::nullopt;
}

std::optional<std::vector<uint32_t>> syscall_numbers(const std::vector<std::string>& names,
                                                     std::vector<std::string>& unknown) {
    std::vector<uint32_t> nrs;
    for (const auto& name : names) {
        if (name == "*") return std::nullopt;
        if (auto nr = syscall_number(name))
            nrs.push_back(*nr);
        else
            unknown.push_back(name);
    }
    return nrs;
}

uint32_t max_syscall_number() { return static_cast<uint32_t>(by_number().size() - 1); }

}  // namespace tracer::probes
