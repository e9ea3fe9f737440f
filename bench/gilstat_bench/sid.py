"""The Debian sid root's interpreters (scripts/sid_root.sh: CPython 3.14 and 3.15 as the
distribution ships them, stripped, and 3.14's debug build), run in a chroot, or in a container
(their own mount and pid namespace, then the chroot): a script is copied into the root and
started there. The benchmark names an interpreter "sid:/usr/bin/python3.X"; `command` turns any
interpreter and script into the command line that runs it. tests/e2e uses `launcher` too."""

import os
import shutil

SID_ROOT = os.environ.get("GILSTAT_SID_ROOT", "/var/cache/gilstat/sid-root")
SID_PYTHONS = ("/usr/bin/python3.14", "/usr/bin/python3.15")
SID_DEBUG_PYTHON = "/usr/bin/python3.14-dbg"
PREFIX = "sid:"
INSIDE = "/tmp/gilstat-scripts"  # where scripts are copied, inside the root


def available():
    """Why the sid root cannot run anything here, or "" when it can."""
    if not os.path.isdir(SID_ROOT):
        return "%s absent (scripts/sid_root.sh provisions it)" % SID_ROOT
    if not shutil.which("chroot") or not shutil.which("unshare"):
        return "chroot or unshare missing"
    return ""


def interpreters(names=SID_PYTHONS):
    """The paths (inside the root) of those of `names` the root has; [] without the root."""
    if available():
        return []
    return [exe for exe in names if os.access(SID_ROOT + exe, os.X_OK)]


def sid_pythons():
    """[(label, interpreter)] of the benchmark: "3.14 (sid)", "sid:/usr/bin/python3.14"."""
    return [("%s (sid)" % exe.rsplit("python", 1)[1], PREFIX + exe) for exe in interpreters()]


def why_absent():
    return available() or "no interpreter in %s" % SID_ROOT


def copy_in(script):
    """Copies `script` into the root; its path there."""
    os.makedirs(SID_ROOT + INSIDE, exist_ok=True)
    inside = os.path.join(INSIDE, os.path.basename(script))
    shutil.copy(script, SID_ROOT + inside)
    return inside


def launcher(exe, container=False, root=SID_ROOT):
    """The argv prefix that starts the interpreter `exe` of `root` (the sid root unless
    another is given): chroot, or in a container `unshare --mount --pid --fork --kill-child`
    then chroot (the interpreter is pid 1 there, the child of unshare)."""
    chroot = [shutil.which("chroot"), root, exe]
    if not container:
        return chroot
    return [shutil.which("unshare"), "--mount", "--pid", "--fork", "--kill-child"] + chroot


def command(py, script, *args):
    """The argv that runs `script` with interpreter `py` (a path, or a sid root's name)."""
    if not py.startswith(PREFIX):
        return [py, script, *map(str, args)]
    return launcher(py[len(PREFIX):]) + [copy_in(script), *map(str, args)]
