# Compiles a BPF C file with clang (-target bpf, BTF for CO-RE) and turns the
# object into a libbpf skeleton header with bpftool. The object bytes live
# inside the header, so the final binary embeds them: one file to ship.
find_program(TRACER_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(TRACER_BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(TRACER_BPF_ARCH x86)
  set(TRACER_MULTIARCH x86_64-linux-gnu)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(TRACER_BPF_ARCH arm64)
  set(TRACER_MULTIARCH aarch64-linux-gnu)
else()
  message(FATAL_ERROR "tracer's BPF programs support x86_64 and arm64, not ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(TRACER_SKEL_DIR ${CMAKE_BINARY_DIR}/generated)
file(MAKE_DIRECTORY ${TRACER_SKEL_DIR})
file(GLOB TRACER_BPF_HEADERS ${CMAKE_SOURCE_DIR}/bpf/*.h)

# tracer_bpf_skeleton_from(<source.bpf.c> <name> <out-list-var> [extra clang flags...])
function(tracer_bpf_skeleton_from src name out_var)
  set(werror)
  if(TRACER_WERROR)
    set(werror -Werror)
  endif()
  set(obj ${TRACER_SKEL_DIR}/${name}.bpf.o)
  set(skel ${TRACER_SKEL_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${TRACER_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${TRACER_BPF_ARCH}
            -Wall ${werror} ${ARGN}
            -I${CMAKE_SOURCE_DIR}/bpf -I/usr/include/${TRACER_MULTIARCH}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${TRACER_BPF_HEADERS}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${TRACER_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  set(${out_var} ${${out_var}} ${skel} PARENT_SCOPE)
endfunction()

# tracer_bpf_skeleton(<area> <out-list-var>) for bpf/<area>.bpf.c: the 5.8
# baseline build <area>.skel.h and, built with -DTRACER_BPF_MODERN, the 5.11+
# build <area>_modern.skel.h (task storage, BTF-typed loads). Userspace picks
# one at start-up from feature probes. An area that needs only one of them
# says so in its source with a line "tracer-builds: baseline" (or "modern");
# no skeleton nobody includes is generated.
function(tracer_bpf_skeleton area out_var)
  set(src ${CMAKE_SOURCE_DIR}/bpf/${area}.bpf.c)
  file(STRINGS ${src} declared REGEX "tracer-builds:")
  set(builds baseline modern)
  if(declared)
    string(REGEX REPLACE ".*tracer-builds:[ \t]*" "" builds "${declared}")
    string(REGEX REPLACE "[ \t]+" ";" builds "${builds}")
  endif()
  set(tmp)
  if("baseline" IN_LIST builds)
    tracer_bpf_skeleton_from(${src} ${area} tmp)
  endif()
  if("modern" IN_LIST builds)
    tracer_bpf_skeleton_from(${src} ${area}_modern tmp -DTRACER_BPF_MODERN)
  endif()
  if(NOT tmp)
    message(FATAL_ERROR "${src}: 'tracer-builds:' names neither baseline nor modern")
  endif()
  set(${out_var} ${${out_var}} ${tmp} PARENT_SCOPE)
endfunction()
