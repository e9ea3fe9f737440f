#!/usr/bin/env python3
"""CPythons of this machine that python_gil_test.py finds outside the sid root (Debian's, pyenv's
2.7 and 3.12) run in a chroot and in a container, as the sid root's interpreters are there: the
host's root is bound (recursively, as a slave) to a temporary directory, and each interpreter is
started with `chroot DIR python` and with `unshare --mount --pid --fork chroot DIR python` (own
mount and pid namespace; bench/gilstat_bench/sid.py's launcher for both). The paths of the
interpreter's mappings then name files under DIR, or files of another mount namespace, which
gilstatd must open as the mapped files themselves (docs/SECURITY.md). Per interpreter and way,
pygil_cpu.py's checks of python_gil_test.py run: the method, contention, and for CPython 3 the
GIL handoffs against the interpreter's own switch_number. Needs root and BTF (skips saying why
otherwise). Environment: GILSTATD, TESTPROGS_DIR.
"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_gil_test as pg  # noqa: E402
from harness import bpf_unavailable  # noqa: E402
from gilstat_bench import sid  # noqa: E402


class HostRoot:
    """The host's root bound to a temporary directory (what is visible inside is the host's)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gilstat-hostroot-")
        for argv in (["mount", "--rbind", "/", self.dir], ["mount", "--make-rslave", self.dir]):
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                self.close()
                raise unittest.SkipTest(f"cannot bind the host's root: {r.stderr.strip()}")

    def close(self):
        # Lazily detached: the bound tree goes once nothing uses it, the host's mounts stay.
        subprocess.run(["umount", "-l", self.dir], capture_output=True)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PythonGilIsolated(pg.GilstatdCase):
    """Each interpreter found on the host, in a chroot and in a container."""

    @classmethod
    def setUpClass(cls):
        cls.root = HostRoot()
        try:
            super().setUpClass()
        except BaseException:
            cls.root.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.root.close()

    # What a chroot or a container changes is how gilstatd opens the files the interpreter maps,
    # the same for every version: one interpreter per way it finds the GIL, 2.7's semaphore,
    # pyenv's 3.12 (symbols) and Debian's stripped python3.
    KINDS = ("2.7.", "3.12.", "/usr/bin/python3")

    @classmethod
    def choose(cls, interpreters):
        out = []
        # Not the sid root's: python_gil_test.py runs them isolated already.
        host = [(path, version) for path, version in interpreters if path not in pg.LAUNCH]
        for path, version in pg.one_of_each(host, cls.KINDS):
            for how in ("chroot", "container"):
                label = f"{path} ({how})"
                pg.LAUNCH[label] = sid.launcher(path, container=how == "container",
                                                root=cls.root.dir)
                pg.COPY_IN[label] = os.path.abspath  # the host's files are there
                out.append((label, version))
        return out

    def test_cpu_bound_threads_isolated(self):
        self.for_each_interpreter(lambda py, version: pg.check_cpu_bound(self, py, version))


if __name__ == "__main__":
    unittest.main(verbosity=2)
