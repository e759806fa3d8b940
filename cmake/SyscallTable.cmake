# The syscall name table is generated from the *target's* <asm/unistd.h> at
# build time (x86_64: asm/unistd_64.h, arm64: asm-generic/unistd.h), so each
# build names the syscalls of the architecture it runs on, and no generated
# table is kept in the source tree.
set(TRACER_SYSCALL_TABLE ${CMAKE_BINARY_DIR}/generated/syscall_table.inc)
add_custom_command(
  OUTPUT ${TRACER_SYSCALL_TABLE}
  COMMAND ${CMAKE_COMMAND} -DCC=${CMAKE_C_COMPILER} -DOUT=${TRACER_SYSCALL_TABLE}
          -P ${CMAKE_SOURCE_DIR}/cmake/gen_syscall_table.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/cmake/gen_syscall_table.cmake
  COMMENT "syscall name table from <asm/unistd.h>"
  VERBATIM)
set_source_files_properties(${TRACER_SYSCALL_TABLE} PROPERTIES HEADER_FILE_ONLY TRUE GENERATED TRUE)
