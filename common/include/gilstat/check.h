// Invariant checks: a violated invariant is a bug, so it aborts with file:line and the
// condition. Active in every build type.
#pragma once

#include <cstdio>
#include <cstdlib>

#define GILSTAT_CHECK(cond)                                                               \
  do {                                                                                    \
    if (__builtin_expect(!(cond), 0)) {                                                   \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
