#!/usr/bin/env bash
# Compiles the C program PROGRAM (it includes <Python.h> with Py_BUILD_CORE and the internal
# headers it needs, and prints offsets) against the headers of each CPython interpreter installed
# here and runs it: how tools/gen_gil_layout.sh and tools/gen_frame_layout.sh make their tables.
# INCLUDE_DIR is passed to the program as the string macro INCLUDE_DIR.
#
# Debian's -dev packages keep pyconfig.h in a multiarch directory next to the include directory
# (INCLUDE_ROOT/x86_64-linux-gnu/python3.14/pyconfig.h): INCLUDE_DIR/.. is searched after the
# system headers, so a root such as /var/cache/gilstat/sid-root/usr/include/python3.14 works
# without mixing its libc headers into the build.
# Some structs depend on defines the build passed on the command line, not in pyconfig.h (3.15 on
# Debian: -D_Py_JIT -D_Py_TIER2, which add 8 bytes to PyInterpreterState): the -D_Py_* flags of
# PY_CORE_CFLAGS in the interpreter's _sysconfigdata_*.py (INCLUDE_DIR/../../lib/python3.N) are
# passed too, and printed.
#
# Usage: tools/py_layout.sh PROGRAM.c [INCLUDE_DIR ...]
#   default: every /root/.pyenv/versions/3.*/include/python3.*, /usr/include/python3.* and
#            /var/cache/gilstat/sid-root/usr/include/python3.* (scripts/sid_root.sh)
# Needs a C compiler (cc); nothing is installed or written outside a temporary directory.
set -euo pipefail

cc=${CC:-cc}
program=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$#" -eq 0 ]; then
  set -- /root/.pyenv/versions/3.*/include/python3.* /usr/include/python3.* \
    /var/cache/gilstat/sid-root/usr/include/python3.*
fi
# The -D_Py_* flags CPython itself was compiled with (from its _sysconfigdata, when present).
core_defines() {
  local inc=$1 ver lib f
  ver=$(basename "$inc" | sed -E 's/^(python[0-9]+\.[0-9]+).*/\1/')
  lib=$(dirname "$(dirname "$inc")")/lib/$ver
  for f in "$lib"/_sysconfigdata_*.py; do
    [ -f "$f" ] || continue
    grep -E "^ *'PY_CORE_CFLAGS'" "$f" | grep -oE -- '-D_Py_[A-Za-z0-9_]+(=[^ ]*)?' | sort -u
    return 0
  done
}

status=0
for inc in "$@"; do
  [ -f "$inc/Python.h" ] || continue
  [ -d "$inc/internal" ] || { echo "$inc: no internal headers, skipped" >&2; continue; }
  mapfile -t defines < <(core_defines "$inc")
  if ! "$cc" -std=gnu11 -w -DINCLUDE_DIR="\"$inc\"" ${defines[@]+"${defines[@]}"} -I"$inc" \
      -idirafter "$(dirname "$inc")" "$program" -o "$tmp/layout" \
      2>"$tmp/err"; then
    echo "$inc: does not compile:" >&2
    head -5 "$tmp/err" >&2
    status=1
    continue
  fi
  "$tmp/layout"
  [ "${#defines[@]}" -eq 0 ] || echo "  build defines:        ${defines[*]}"
done
exit $status
