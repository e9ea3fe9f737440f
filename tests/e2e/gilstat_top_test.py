#!/usr/bin/env python3
"""`gilstat top` in a plain 80x24 terminal (tmux), and as plain text when not on a terminal; and
`gilstat locks` naming a CPython process's GIL and threading locks.

A CPython 3.11+ program with a known answer (tests/testprogs/pystacks.py plain: thread B's
`waiter` keeps waiting for the GIL that thread A's `hog` holds) runs while `gilstat top --pid P`
runs in a detached tmux session of 80x24: the captured screen shows the process's row (pid,
waiter <- hog, a GIL wait per second), every line fits 80 columns, a key sorts (the header says
so) and q ends the program. Without a terminal (stdout a pipe) it prints one frame and exits.
`gilstat locks --json` on the same program lists its GIL as a lock named "gil" (contended, with
its wait) and says which interpreter and method; on CPython 2.7 the GIL semaphore is "gil" too.
Needs root, BTF and tmux (skips saying why otherwise). Environment: GILSTAT, TESTPROGS_DIR.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import bpf_unavailable  # noqa: E402

GILSTAT = os.environ.get("GILSTAT", "gilstat")
TESTPROGS = os.environ.get("TESTPROGS_DIR", "")


def python():
    found = sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python3.12")) + \
        sorted(glob.glob("/root/.pyenv/versions/3.1[1-9]*/bin/python3.1[1-9]"))
    if not found and os.access("/usr/bin/python3.11", os.X_OK):
        found = ["/usr/bin/python3.11"]
    return found[0] if found else None


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check,
                          timeout=30)


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
@unittest.skipIf(not shutil.which("tmux"), "tmux missing: scripts/deps.sh installs it")
class GilstatTop(unittest.TestCase):
    def setUp(self):
        if not TESTPROGS:
            self.skipTest("TESTPROGS_DIR not set (run through ctest)")
        py = python()
        if not py:
            self.skipTest("no CPython 3.11+ found")
        self.target = subprocess.Popen([py, os.path.join(TESTPROGS, "pystacks.py"), "plain",
                                        "30"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True)
        self.assertEqual(self.target.stdout.readline().strip(), "ready")
        self.target.stdin.write("go\n")
        self.target.stdin.flush()
        self.session = "gilstat-top-%d" % os.getpid()

    def tearDown(self):
        tmux("kill-session", "-t", self.session, check=False)
        self.target.kill()
        self.target.wait()
        self.target.stdin.close()
        self.target.stdout.close()

    def screen(self):
        return tmux("capture-pane", "-p", "-t", self.session).stdout

    def wait_screen(self, what, timeout=20):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if what(text):
                return text
            time.sleep(0.2)
        self.fail("the screen never showed it:\n" + text)

    def test_live_view_in_80x24(self):
        pid = self.target.pid
        tmux("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24",
             "%s top --pid %d --interval 0.5" % (GILSTAT, pid))
        row = lambda t: next((l for l in t.splitlines() if l.split()[:1] == [str(pid)]), None)
        text = self.wait_screen(lambda t: row(t) and "waiter <- hog" in row(t))
        self.assertIn("PID", text)
        self.assertTrue(all(len(l) <= 80 for l in text.splitlines()), text)
        fields = row(text).split()
        wait_ms = float(fields[3].rstrip("ms"))
        self.assertGreater(wait_ms, 100, text)  # ~1 s/s: B waits for hog all the time
        tmux("send-keys", "-t", self.session, "h")
        self.wait_screen(lambda t: "sorted by handoffs" in t)
        tmux("send-keys", "-t", self.session, "q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if tmux("has-session", "-t", self.session, check=False).returncode != 0:
                return  # gilstat exited, the session with it
            time.sleep(0.2)
        self.fail("q did not end gilstat top:\n" + self.screen())

    def test_plain_text_when_not_a_terminal(self):
        r = subprocess.run([GILSTAT, "top", "--pid", str(self.target.pid), "--interval", "1"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.split()[:1] == [str(self.target.pid)]]
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertIn("waiter <- hog", lines[0])


class GilstatLocksPython(unittest.TestCase):
    @unittest.skipIf(bpf_unavailable(), bpf_unavailable())
    def test_the_gil_is_named(self):
        if not TESTPROGS:
            self.skipTest("TESTPROGS_DIR not set (run through ctest)")
        cases = [(python(), "pystacks.py", ["plain", "3"])]
        py27 = "/root/.pyenv/versions/2.7.18/bin/python"
        if os.access(py27, os.X_OK):
            cases.append((py27, "pygil_cpu.py", ["2", "3"]))
        for py, script, args in cases:
            if not py:
                continue
            with self.subTest(python=py):
                t = subprocess.Popen([py, os.path.join(TESTPROGS, script), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                try:
                    self.assertEqual(t.stdout.readline().strip(), "ready")
                    g = subprocess.Popen([GILSTAT, "locks", "--pid", str(t.pid), "--duration",
                                          "1.5", "--mode", "default", "--json"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
                    g.stderr.readline()  # "tracing ...": attached
                    t.stdin.write("go\n")
                    t.stdin.flush()
                    out, err = g.communicate(timeout=120)
                finally:
                    t.kill()
                    t.wait()
                self.assertEqual(g.returncode, 0, err)
                proc = json.loads(out)["processes"][0]
                self.assertRegex(proc.get("python", ""), r"^CPython [23]\.\d+\.\d+, GIL measured "
                                                         r"by \w+$", out[:2000])
                gil = [l for l in proc["locks"] if l.get("name") == "gil"]
                self.assertEqual(len(gil), 1, out[:3000])
                self.assertGreater(gil[0]["contended"], 10, gil[0])
                self.assertGreater(gil[0]["wait_ns"], 0, gil[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
