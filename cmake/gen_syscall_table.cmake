# cmake -DCC=<c compiler> -DOUT=<file> -P gen_syscall_table.cmake
cmake_minimum_required(VERSION 3.20)
# Writes one `TRACER_SYSCALL(name)` line per __NR_<name> macro of <asm/unistd.h>;
# the including C++ file expands each to {__NR_name, "name"} with the same header,
# so aliases (arm64's __NR3264_*) resolve through the preprocessor.
file(WRITE ${OUT}.c "#include <asm/unistd.h>\n")
execute_process(
  COMMAND ${CC} -dM -E ${OUT}.c
  OUTPUT_VARIABLE macros
  RESULT_VARIABLE rc)
file(REMOVE ${OUT}.c)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot preprocess <asm/unistd.h> (install linux-libc-dev)")
endif()
string(REGEX MATCHALL "#define __NR_[a-z0-9_]+ " defs "${macros}")
set(body "// generated from <asm/unistd.h> by cmake/gen_syscall_table.cmake\n")
set(seen "")
foreach(d IN LISTS defs)
  string(REGEX REPLACE "#define __NR_([a-z0-9_]+) " "\\1" name "${d}")
  if(name STREQUAL "syscalls" OR name MATCHES "^arch_specific_syscall$" OR name IN_LIST seen)
    continue()
  endif()
  list(APPEND seen ${name})
  string(APPEND body "TRACER_SYSCALL(${name})\n")
endforeach()
list(LENGTH seen n)
if(n LESS 200)
  message(FATAL_ERROR "only ${n} syscalls found in <asm/unistd.h>")
endif()
file(WRITE ${OUT} "${body}")
