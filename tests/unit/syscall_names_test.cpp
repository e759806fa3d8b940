#include "probes/syscall_names.h"
#include "bpf/syscalls.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

using namespace tracer::probes;

TEST(SyscallNames, NamesTheSyscallsOfThisArchitecture) {
    EXPECT_EQ(syscall_name(SYS_getppid), "getppid");
    EXPECT_EQ(syscall_name(SYS_openat), "openat");
    EXPECT_EQ(syscall_name(SYS_close), "close");
    EXPECT_EQ(syscall_name(SYS_clock_nanosleep), "clock_nanosleep");
#if defined(__x86_64__)
    EXPECT_EQ(syscall_name(0), "read");
    EXPECT_EQ(syscall_name(39), "getpid");
    EXPECT_EQ(syscall_name(231), "exit_group");
#elif defined(__aarch64__)
    EXPECT_EQ(syscall_name(63), "read");
    EXPECT_EQ(syscall_name(172), "getpid");
    EXPECT_EQ(syscall_name(94), "exit_group");
#endif
    EXPECT_GE(max_syscall_number(), 400u);
}

TEST(SyscallNames, RoundTripsEveryNameAndFoldsTheRest) {
    for (uint32_t nr = 0; nr <= max_syscall_number(); ++nr) {
        auto name = syscall_name(nr);
        if (name.rfind("sys_", 0) == 0) continue;  // holes in the table
        EXPECT_EQ(syscall_number(name).value_or(~0u), nr) << name;
    }
    EXPECT_EQ(syscall_name(SYSCALL_NR_OTHER), "other");
    EXPECT_EQ(syscall_name(999), "sys_999");
    EXPECT_FALSE(syscall_number("no_such_syscall").has_value());
}
