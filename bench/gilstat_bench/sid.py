"""The Debian sid root's interpreters (scripts/sid_root.sh: CPython 3.14 and 3.15 as the
distribution ships them, stripped), run in a chroot: a benchmark script is copied into the root
and started there. An interpreter is named "sid:/usr/bin/python3.X"; `command` turns any
interpreter and script into the command line that runs it."""

import os
import shutil

SID_ROOT = os.environ.get("GILSTAT_SID_ROOT", "/var/cache/gilstat/sid-root")
SID_PYTHONS = ("/usr/bin/python3.14", "/usr/bin/python3.15")
PREFIX = "sid:"
INSIDE = "/tmp/gilstat-bench"  # where the scripts are copied, inside the root


def sid_pythons():
    """[(label, interpreter)] of the sid root's interpreters, "3.14 (sid)"; [] without it."""
    if not os.path.isdir(SID_ROOT) or not shutil.which("chroot"):
        return []
    return [("%s (sid)" % exe.rsplit("python", 1)[1], PREFIX + exe) for exe in SID_PYTHONS
            if os.access(SID_ROOT + exe, os.X_OK)]


def why_absent():
    return "%s absent (scripts/sid_root.sh provisions it)" % SID_ROOT


def command(py, script, *args):
    """The argv that runs `script` with interpreter `py` (a path, or a sid root's name)."""
    if not py.startswith(PREFIX):
        return [py, script, *map(str, args)]
    os.makedirs(SID_ROOT + INSIDE, exist_ok=True)
    inside = os.path.join(INSIDE, os.path.basename(script))
    shutil.copy(script, SID_ROOT + inside)
    return [shutil.which("chroot"), SID_ROOT, py[len(PREFIX):], inside, *map(str, args)]
