# The fuzz build (GILSTAT_FUZZ=ON): clang only. Every object is compiled with libFuzzer's
# coverage instrumentation, ASan and UBSan (UBSan errors are fatal: a fuzzer reports them as
# crashes); gilstat_fuzz_target() links the fuzzer's main. libFuzzer's runtime is in Debian's
# libclang-rt-14-dev (scripts/deps.sh).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "GILSTAT_FUZZ needs clang: configure a build dir of its own with "
                      "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
endif()
if(GILSTAT_SANITIZE)
  message(FATAL_ERROR "GILSTAT_FUZZ brings its own sanitizers: leave GILSTAT_SANITIZE empty")
endif()

set(_gilstat_fuzz_san -fsanitize=address,undefined -fno-sanitize-recover=undefined)
add_compile_options(-fsanitize=fuzzer-no-link ${_gilstat_fuzz_san}
                    -fno-omit-frame-pointer -g)
add_link_options(${_gilstat_fuzz_san})
message(STATUS "gilstat: fuzz build (libFuzzer, ASan, UBSan)")

# gilstat_fuzz_target(NAME SOURCES … LIBS …): one libFuzzer executable.
function(gilstat_fuzz_target name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})  # "tests/…"
  gilstat_warnings(${name})
endfunction()
