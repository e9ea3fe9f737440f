# GILSTAT_SANITIZE selects one sanitizer build:
#   ""               no sanitizers (default)
#   "address"        ASan + UBSan (UBSan errors are fatal)
#   "thread"         TSan
set(GILSTAT_SANITIZE "" CACHE STRING "Sanitizer build: empty, address or thread")
set_property(CACHE GILSTAT_SANITIZE PROPERTY STRINGS "" address thread)

if(GILSTAT_SANITIZE STREQUAL "address")
  set(_gilstat_san_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
                         -fno-omit-frame-pointer)
elseif(GILSTAT_SANITIZE STREQUAL "thread")
  set(_gilstat_san_flags -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT GILSTAT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "GILSTAT_SANITIZE must be empty, 'address' or 'thread', not '${GILSTAT_SANITIZE}'")
endif()

if(_gilstat_san_flags)
  add_compile_options(${_gilstat_san_flags})
  add_link_options(${_gilstat_san_flags})
  message(STATUS "gilstat: sanitizer build (${GILSTAT_SANITIZE})")
endif()
