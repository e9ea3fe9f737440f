# Warnings for the project's own C++ targets. GILSTAT_WERROR turns them into errors (CI).
option(GILSTAT_WERROR "Treat compiler warnings as errors" OFF)

function(gilstat_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(GILSTAT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
