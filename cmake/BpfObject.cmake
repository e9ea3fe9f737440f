# Building BPF programs into libbpf skeletons.
#
#   gilstat_bpf_skeleton(NAME SOURCE)
#
# compiles SOURCE (a *.bpf.c file) with clang -target bpf into ${NAME}.bpf.o, runs
# `bpftool gen skeleton` on it into ${NAME}.skel.h in the build tree and defines the INTERFACE
# library ${NAME}_skel: link it to include "bpf/${NAME}.skel.h" (and get libbpf).
#
# vmlinux.h is generated at build time from the build machine's kernel BTF
# (/sys/kernel/btf/vmlinux), or taken from GILSTAT_VMLINUX_H when set (a build machine without
# BTF: point it at a vmlinux.h produced elsewhere with
# `bpftool btf dump file /sys/kernel/btf/vmlinux format c`). The programs use CO-RE, so the
# header's kernel need not be the kernel they run on. See docs/PROBES.md.
include_guard(GLOBAL)

find_program(GILSTAT_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(GILSTAT_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET GLOBAL libbpf>=1.0)

set(GILSTAT_VMLINUX_H "" CACHE FILEPATH
    "vmlinux.h to compile the BPF programs against (empty: generate from /sys/kernel/btf/vmlinux)")

# Internal cache entries: gilstat_bpf_skeleton works in any directory (bpf/, bench/).
set(_gilstat_bpf_gen ${CMAKE_BINARY_DIR}/bpf-gen CACHE INTERNAL "")
set(_gilstat_vmlinux_dir ${_gilstat_bpf_gen}/vmlinux CACHE INTERNAL "")
if(GILSTAT_VMLINUX_H)
  if(NOT EXISTS ${GILSTAT_VMLINUX_H})
    message(FATAL_ERROR "GILSTAT_VMLINUX_H=${GILSTAT_VMLINUX_H} does not exist")
  endif()
  configure_file(${GILSTAT_VMLINUX_H} ${_gilstat_vmlinux_dir}/vmlinux.h COPYONLY)
  add_custom_target(gilstat_vmlinux_h)
elseif(EXISTS /sys/kernel/btf/vmlinux)
  add_custom_command(
    OUTPUT ${_gilstat_vmlinux_dir}/vmlinux.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_gilstat_vmlinux_dir}
    COMMAND ${GILSTAT_BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c
            > ${_gilstat_vmlinux_dir}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${_gilstat_vmlinux_dir}/vmlinux.h.tmp
            ${_gilstat_vmlinux_dir}/vmlinux.h
    COMMENT "Generating vmlinux.h from /sys/kernel/btf/vmlinux"
    VERBATIM)
  add_custom_target(gilstat_vmlinux_h DEPENDS ${_gilstat_vmlinux_dir}/vmlinux.h)
else()
  message(FATAL_ERROR
    "gilstat: this build machine has no kernel BTF (/sys/kernel/btf/vmlinux), needed to "
    "generate vmlinux.h for the BPF programs. Set -DGILSTAT_VMLINUX_H=/path/to/vmlinux.h "
    "(made on any machine with BTF: bpftool btf dump file /sys/kernel/btf/vmlinux format c), "
    "or configure with -DGILSTAT_RUNTIME_ONLY=ON.")
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(_gilstat_bpf_arch x86 CACHE INTERNAL "")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(_gilstat_bpf_arch arm64 CACHE INTERNAL "")
else()
  message(FATAL_ERROR "gilstat: BPF target arch for ${CMAKE_SYSTEM_PROCESSOR} unknown")
endif()

function(gilstat_bpf_skeleton name source)
  get_filename_component(_src ${source} ABSOLUTE)
  set(_out ${_gilstat_bpf_gen}/${name})
  set(_obj ${_out}/${name}.bpf.o)
  set(_skel ${_out}/bpf/${name}.skel.h)
  # Headers next to the source and the shared common headers: rebuild when any changes.
  get_filename_component(_srcdir ${_src} DIRECTORY)
  file(GLOB _deps CONFIGURE_DEPENDS ${_srcdir}/*.h ${PROJECT_SOURCE_DIR}/common/include/gilstat/*.h)
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_out}/bpf
    COMMAND ${GILSTAT_CLANG} -target bpf -O2 -g -Wall -Werror
            -D__TARGET_ARCH_${_gilstat_bpf_arch}
            -I${_gilstat_vmlinux_dir} -I${_srcdir} -I${PROJECT_SOURCE_DIR}
            -I${PROJECT_SOURCE_DIR}/common/include
            -c ${_src} -o ${_obj}
    DEPENDS ${_src} ${_deps} gilstat_vmlinux_h ${_gilstat_vmlinux_dir}/vmlinux.h
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${GILSTAT_BPFTOOL} gen skeleton ${_obj} name ${name} > ${_skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${_skel}.tmp ${_skel}
    DEPENDS ${_obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${_skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${_out})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
