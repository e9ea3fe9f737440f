#!/usr/bin/env bash
# Prints the x86-64 GIL layout table of daemon/python/gil_state.cpp (GilLayoutFor) from the
# internal headers of the CPython interpreters installed here: for each one, a small C program
# compiled with -DPy_BUILD_CORE against its include directory prints the offset of the main
# interpreter's struct _gil_runtime_state from _PyRuntime and the offsets of its fields.
#
#   3.7 .. 3.11: _PyRuntime.ceval.gil (the state is embedded in the runtime)
#   3.12+:       _PyRuntime._main_interpreter._gil (per-interpreter GIL); the main interpreter's
#                ceval.gil points there (its offset is printed too, to check it at run time)
#   3.12+:       the interpreter list (runtime->interpreters.head, interp->next, interp->id) and
#                each interpreter's GIL pointer (interp->ceval.gil) and own GIL (interp->_gil):
#                sub-interpreters with their own GIL; tstate->interp and interp->ceval for the
#                exact mode's take_gil/drop_gil arguments
#   3.13+:       also where the fields the daemon reads sit inside _Py_DebugOffsets itself (its
#                own layout changes per minor version: 3.14 inserted interpreter_state.threads_main)
#                and the values they hold in this build
#
# Compiled and run against each interpreter's headers by tools/py_layout.sh.
#
# Usage: tools/gen_gil_layout.sh [INCLUDE_DIR ...] (default: as tools/py_layout.sh)
# Needs a C compiler (cc); nothing is installed or written outside a temporary directory.
set -euo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/layout.c" <<'C'
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX < 0x03070000
#error "3.6 and older keep the GIL in static variables: no layout to generate"
#elif PY_VERSION_HEX < 0x03080000
#include "internal/pystate.h"
#elif PY_VERSION_HEX < 0x03090000
#include "internal/pycore_pystate.h"
#else
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#endif

#if PY_VERSION_HEX < 0x030c0000
#define GIL_PATH ceval.gil
#define PRINT_GIL_PTR() printf("  gil pointer:          none (embedded in the runtime)\n")
#else
#define GIL_PATH _main_interpreter._gil
#define PRINT_GIL_PTR() \
  printf("  main_gil_ptr:         %zu\n", offsetof(_PyRuntimeState, _main_interpreter.ceval.gil))
#endif

int main(void) {
  printf("%d.%d.%d (%s)\n", PY_MAJOR_VERSION, PY_MINOR_VERSION, PY_MICRO_VERSION, INCLUDE_DIR);
  printf("  gil_from_runtime:     %zu\n", offsetof(_PyRuntimeState, GIL_PATH));
  PRINT_GIL_PTR();
  printf("  locked:               %zu\n", offsetof(struct _gil_runtime_state, locked));
  printf("  last_holder:          %zu\n", offsetof(struct _gil_runtime_state, last_holder));
  printf("  switch_number:        %zu\n", offsetof(struct _gil_runtime_state, switch_number));
  printf("  interval:             %zu\n", offsetof(struct _gil_runtime_state, interval));
  printf("  cond:                 %zu\n", offsetof(struct _gil_runtime_state, cond));
  printf("  mutex:                %zu\n", offsetof(struct _gil_runtime_state, mutex));
  printf("  sizeof gil state:     %zu\n", sizeof(struct _gil_runtime_state));
  printf("  sizeof _PyRuntime:    %zu\n", sizeof(_PyRuntimeState));
#if PY_VERSION_HEX >= 0x030c0000
  /* The interpreter list and each interpreter's GIL (sub-interpreters, 3.12+): the offsets the
   * table uses where _Py_DebugOffsets do not exist (3.12), and the exact mode's argument paths. */
  printf("  interpreters row:     {%d, %zu, %zu, %zu, %zu, %zu, %zu, %zu}\n", PY_MINOR_VERSION,
         offsetof(_PyRuntimeState, interpreters.head), offsetof(PyInterpreterState, id),
         offsetof(PyInterpreterState, next), offsetof(PyInterpreterState, ceval.gil),
         offsetof(PyInterpreterState, _gil), offsetof(PyThreadState, interp),
         offsetof(PyInterpreterState, ceval));
#endif
#if PY_VERSION_HEX >= 0x030d0000
  printf("  debug_offsets thread_state.interp@%zu\n",
         offsetof(_Py_DebugOffsets, thread_state.interp));
  /* Where the fields the daemon reads sit inside _Py_DebugOffsets itself. */
  printf("  debug_offsets: interpreters_head@%zu interp.id@%zu interp.next@%zu ceval_gil@%zu "
         "gil_runtime_state@%zu enabled@%zu locked@%zu holder@%zu free_threaded@%zu\n",
         offsetof(_Py_DebugOffsets, runtime_state.interpreters_head),
         offsetof(_Py_DebugOffsets, interpreter_state.id),
         offsetof(_Py_DebugOffsets, interpreter_state.next),
         offsetof(_Py_DebugOffsets, interpreter_state.ceval_gil),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_enabled),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_locked),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_holder),
         offsetof(_Py_DebugOffsets, free_threaded));
  printf("  debug_offsets row:    {%d, %zu, %zu, %zu, %zu, %zu, %zu, %zu, %zu}\n", PY_MINOR_VERSION,
         offsetof(_Py_DebugOffsets, runtime_state.interpreters_head),
         offsetof(_Py_DebugOffsets, interpreter_state.id),
         offsetof(_Py_DebugOffsets, interpreter_state.next),
         offsetof(_Py_DebugOffsets, interpreter_state.ceval_gil),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_enabled),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_locked),
         offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_holder));
  printf("  debug_offsets values: interpreters_head=%zu ceval_gil=%zu gil_runtime_state=%zu "
         "locked=%zu holder=%zu id=%zu next=%zu main_interpreter=%zu\n",
         offsetof(_PyRuntimeState, interpreters.head),
         offsetof(PyInterpreterState, ceval.gil), offsetof(PyInterpreterState, _gil),
         offsetof(PyInterpreterState, _gil.locked), offsetof(PyInterpreterState, _gil.last_holder),
         offsetof(PyInterpreterState, id), offsetof(PyInterpreterState, next),
         offsetof(_PyRuntimeState, _main_interpreter));
#endif
  return 0;
}
C

"$(dirname "$0")/py_layout.sh" "$tmp/layout.c" "$@"
