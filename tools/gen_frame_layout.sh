#!/usr/bin/env bash
# Prints the x86-64 frame layout table of daemon/python/py_frames.cpp (FrameLayoutFor) from the
# internal headers of the CPython 3.11+ interpreters installed here: where a thread's innermost
# Python frame is (PyThreadState.cframe->current_frame in 3.11 and 3.12, current_frame from
# 3.13), how frames chain (_PyInterpreterFrame.previous), which code object a frame runs
# (f_code, f_executable from 3.13: a tagged _PyStackRef from 3.14) and its owner (from 3.12 the
# interpreter's own entry frames have owner 3 or more: FRAME_OWNED_BY_CSTACK in 3.12 and 3.13,
# FRAME_OWNED_BY_INTERPRETER and _CSTACK from 3.14), the thread list (interp->threads.head,
# tstate->next, tstate->native_thread_id, tstate->interp), a code object's names and first
# line, where its bytecode (co_code_adaptive) and location table (co_linetable, a bytes object)
# are, where a bytes object's data starts (PyBytesObject.ob_sval), and the sizes of the compact
# str headers. A frame's instruction pointer (prev_instr in 3.11 and 3.12, instr_ptr from 3.13)
# points into its code object's co_code_adaptive.
#
# One line per interpreter: "frame row: {minor, threads_head, tstate_next, native_thread_id,
# tstate_interp, cframe (-1: none), current_frame, previous, code, owner, first_hidden_owner (255:
# none), instr, co_filename, co_qualname, co_firstlineno, sizeof(PyASCIIObject),
# sizeof(PyCompactUnicodeObject), co_code_adaptive, co_linetable, ob_sval}".
#
# Usage: tools/gen_frame_layout.sh [INCLUDE_DIR ...] (default: those of tools/py_layout.sh that
# are 3.11 or newer)
set -euo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/frames.c" <<'C'
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX < 0x030b0000
#error "3.10 and older have no _PyInterpreterFrame"
#endif
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"

int main(void) {
#if PY_VERSION_HEX < 0x030d0000
  int cframe = (int)offsetof(PyThreadState, cframe);
  size_t current = offsetof(_PyCFrame, current_frame);
  size_t code = offsetof(_PyInterpreterFrame, f_code);
  size_t instr = offsetof(_PyInterpreterFrame, prev_instr);
#else
  int cframe = -1;
  size_t current = offsetof(PyThreadState, current_frame);
  size_t code = offsetof(_PyInterpreterFrame, f_executable);
  size_t instr = offsetof(_PyInterpreterFrame, instr_ptr);
#endif
#if PY_VERSION_HEX < 0x030c0000
  int hidden = 255; /* 3.11: every frame on the chain runs Python code */
#else
  int hidden = 3;
#endif
  printf("%d.%d.%d (%s)\n", PY_MAJOR_VERSION, PY_MINOR_VERSION, PY_MICRO_VERSION, INCLUDE_DIR);
  printf("  frame row: {%d, %zu, %zu, %zu, %zu, %d, %zu, %zu, %zu, %zu, %d, %zu, %zu, %zu, %zu, "
         "%zu, %zu, %zu, %zu, %zu},\n",
         PY_MINOR_VERSION, offsetof(PyInterpreterState, threads.head),
         offsetof(PyThreadState, next), offsetof(PyThreadState, native_thread_id),
         offsetof(PyThreadState, interp), cframe, current,
         offsetof(_PyInterpreterFrame, previous), code, offsetof(_PyInterpreterFrame, owner),
         hidden, instr, offsetof(PyCodeObject, co_filename), offsetof(PyCodeObject, co_qualname),
         offsetof(PyCodeObject, co_firstlineno), sizeof(PyASCIIObject),
         sizeof(PyCompactUnicodeObject), offsetof(PyCodeObject, co_code_adaptive),
         offsetof(PyCodeObject, co_linetable), offsetof(PyBytesObject, ob_sval));
  return 0;
}
C

if [ "$#" -eq 0 ]; then  # 3.11 and newer only
  set -- /root/.pyenv/versions/3.*/include/python3.1[1-9]* /usr/include/python3.1[1-9]* \
    /var/cache/gilstat/sid-root/usr/include/python3.1[1-9]*
fi
"$(dirname "$0")/py_layout.sh" "$tmp/frames.c" "$@"
