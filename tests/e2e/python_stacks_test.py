#!/usr/bin/env python3
"""`gilstat stacks` against programs whose answer is known (tests/testprogs/pystacks.py), on every
CPython 3.11+ found: pyenv's, Debian's (stripped), and the sid root's 3.14 and 3.15 (stripped, run
in a chroot) and 3.14's debug build.

- plain: thread A runs hog(), thread B calls waiter() (a 1 ms sleep) in a loop. Of B's GIL wait
  (the pairs whose waiting stack holds b_main), >= 90% is attributed to stacks ending in waiter
  and >= 90% is blamed on holders' stacks holding hog; the waits attributed to stacks sum to
  the GIL's wait total of the same window within 5%. Frames show their current line: the
  waiter's leaf is at waiter()'s time.sleep call (not its `def` line), b_main at its waiter()
  call, and the holder's hog frames inside hog's loop.
- deep (one interpreter per layout family): waiter() 100 frames deep: the stacks are truncated
  and counted so, the leaf is still waiter.
- churn: waiter() reached through code objects made and dropped at run time (exec, lambdas):
  every frame's name is one the program has, or "[code object gone]", never another.
- exit: the target exits while gilstat runs: gilstat still reports it and exits 0.
- faces: the same run's pprof profile read by `go tool pprof -top` (waiter on top), and its
  flame graph (SVG) rendered by headless Chromium and read back by OCR (tesseract): the names
  waiter and hog are visible in the picture.
- locks: thread A holds a threading.Lock 2 ms at a time, thread B takes it in lock_waiter() over
  and over: >= 90% of B's threading-lock wait is attributed to stacks ending in lock_waiter, at
  its `with lock:` line, with no holder stack; the threading-lock waits attributed sum to the
  locks' contended wait total within 5%; `--folded --lock threading` has the waiter's line on
  top; `--holders --lock threading` is a usage error.
- gilstatd with probes.python_stacks: /debug/pprof/gil_wait has waiter on top and
  /debug/pprof/gil_blame hog, /debug/pprof/lock_wait lock_waiter (go tool pprof), a bad
  `seconds` is a 400, and without the setting the endpoints answer 404 saying how to turn it
  on.

Needs root and BTF (skips saying why otherwise). Environment: GILSTAT, TESTPROGS_DIR.
"""
import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import bpf_unavailable, start_gilstatd  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from gilstat_bench import sid  # noqa: E402

GILSTAT = os.environ.get("GILSTAT", "gilstat")
TESTPROGS = os.environ.get("TESTPROGS_DIR", "")
CAPTURE_S = 1.5
SANITIZER_SUBSET = ("/root/.pyenv/versions/3.11.", "/root/.pyenv/versions/3.12.",
                    "sid:/usr/bin/python3.14")


def interpreters():
    """[(label, argv prefix, copy_in)] of the CPython 3.11+ interpreters found."""
    out = []
    for exe in sorted(glob.glob("/root/.pyenv/versions/3.1[1-9]*/bin/python3.1[1-9]")):
        out.append((exe, [exe], os.path.abspath))
    if os.access("/usr/bin/python3.11", os.X_OK):
        out.append(("/usr/bin/python3.11", ["/usr/bin/python3.11"], os.path.abspath))
    for exe in sid.interpreters(sid.SID_PYTHONS + (sid.SID_DEBUG_PYTHON,)):
        out.append(("sid:" + exe, sid.launcher(exe), sid.copy_in))
    return out


class Target:
    """pystacks.py MODE under one interpreter: started, then released with "go"."""

    def __init__(self, prefix, copy_in, mode, seconds):
        script = copy_in(os.path.join(TESTPROGS, "pystacks.py"))
        self.proc = subprocess.Popen([*prefix, script, mode, str(seconds)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise AssertionError(f"{prefix} pystacks.py: expected 'ready', got {line!r}")

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f and not f.closed:
                f.close()


def run_stacks(case, target, *extra, seconds=CAPTURE_S):
    """`gilstat stacks --pid P --json` over the target's run; the parsed JSON."""
    g = subprocess.Popen([GILSTAT, "stacks", "--pid", str(target.proc.pid), "--duration",
                          str(seconds), "--json", *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # gilstat says it is tracing once attached: then the workload starts.
    line = g.stderr.readline()
    target.go()
    out, err = g.communicate(timeout=120)
    case.assertEqual(g.returncode, 0, f"gilstat stacks: {line}{err}")
    return json.loads(out)


def line_of(text, after=None):
    """The number of the first line of pystacks.py that is `text` (stripped), after the line that
    is `after` when given."""
    with open(os.path.join(TESTPROGS, "pystacks.py")) as f:
        lines = [l.strip() for l in f]
    start = lines.index(after) + 1 if after else 0
    return lines.index(text, start) + 1


def names(stack):
    return [f["function"] for f in stack["frames"]]


def process_of(case, doc, pid):
    procs = [p for p in doc["processes"] if p["pid"] == pid]
    case.assertEqual(len(procs), 1, f"process {pid} not reported: {doc}")
    return procs[0]


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PythonStacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TESTPROGS:
            raise unittest.SkipTest("TESTPROGS_DIR not set (run through ctest)")
        cls.found = interpreters()
        print("\nCPython 3.11+ interpreters found: " + ", ".join(l for l, _, _ in cls.found),
              file=sys.stderr)
        if os.environ.get("GILSTAT_SANITIZE"):
            # Under the sanitizers one interpreter per frame layout gilstat reads: 3.11's, 3.12's
            # and the debug offsets of 3.13+ (the sid root's 3.14). The release build runs all.
            keep = [next((f for f in cls.found if f[0].startswith(k)), None)
                    for k in SANITIZER_SUBSET]
            cls.found = [f for f in keep if f]
            print("sanitizer build: testing " + ", ".join(l for l, _, _ in cls.found),
                  file=sys.stderr)
        if not sid.interpreters():
            print(f"the sid root's interpreters are not tested: {sid.why_absent()}",
                  file=sys.stderr)

    def each(self, fn, only=None):
        if not self.found:
            self.skipTest("no CPython 3.11+ found")
        for label, prefix, copy_in in self.found:
            if only and not any(o in label for o in only):
                continue
            with self.subTest(interpreter=label):
                fn(label, prefix, copy_in)

    def stacks_of(self, prefix, copy_in, mode):
        """pystacks.py MODE traced by `gilstat stacks --json`: its process in the document."""
        t = Target(prefix, copy_in, mode, CAPTURE_S + 1)
        try:
            doc = run_stacks(self, t)
        finally:
            t.close()
        return process_of(self, doc, t.proc.pid)

    def test_waiter_waits_and_hog_is_blamed(self):
        def check(label, prefix, copy_in):
            p = self.stacks_of(prefix, copy_in, "plain")
            pairs = p["pairs"]
            b = [x for x in pairs if "b_main" in names(x["waiter"])]
            b_wait = sum(x["wait_ns"] for x in b)
            msg = f"{label}: {json.dumps(p)[:3000]}"
            self.assertGreater(len(b), 0, msg)
            self.assertGreater(b_wait, 0.1e9, msg)  # ~1.5 s of 1 ms sleeps, each a wait
            at_waiter = sum(x["wait_ns"] for x in b if names(x["waiter"])[0] == "waiter")
            on_hog = sum(x["wait_ns"] for x in b if "hog" in names(x["holder"]))
            self.assertGreaterEqual(at_waiter, 0.9 * b_wait, msg)
            self.assertGreaterEqual(on_hog, 0.9 * b_wait, msg)
            # The waits attributed to stacks are the GIL's contended waits of the window.
            self.assertEqual({x["lock"] for x in b}, {"gil"}, msg)  # B only sleeps
            attributed = sum(x["wait_ns"] for x in pairs if x["lock"] == "gil")
            self.assertLessEqual(abs(attributed - p["total_wait_ns"]),
                                 0.05 * p["total_wait_ns"], msg)
            # Current lines (tests/testprogs/pystacks.py): every stack ending in waiter waits in
            # its time.sleep call (not its `def` line), called from b_main's waiter() call; the
            # GIL's holder runs hog's loop.
            at = [x["waiter"]["frames"] for x in b if names(x["waiter"])[0] == "waiter"]
            self.assertTrue(all(f[0]["file"].endswith("pystacks.py") for f in at), msg)
            self.assertEqual({f[0]["line"] for f in at}, {line_of("time.sleep(0.001)")}, msg)
            self.assertEqual({f[1]["line"] for f in at if f[1]["function"] == "b_main"},
                             {line_of("waiter()", after="def b_main():")}, msg)
            hog_lines = {f["line"] for x in b for f in x["holder"]["frames"]
                         if f["function"] == "hog"}
            hog_loop = {line_of("while not stop[0]:", after="def hog():"),
                        line_of("n += 1", after="def hog():")}
            self.assertTrue(hog_lines and hog_lines <= hog_loop, msg)
        self.each(check)

    def test_threading_lock_waits_are_attributed_to_their_waiter(self):
        def check(label, prefix, copy_in):
            p = self.stacks_of(prefix, copy_in, "locks")
            msg = f"{label}: {json.dumps(p)[:3000]}"
            locks = [x for x in p["pairs"] if x["lock"] == "threading"]
            b = [x for x in locks if "b_locks" in names(x["waiter"])]
            b_wait = sum(x["wait_ns"] for x in b)
            # ~1.5 s of a lock held 2 ms out of every ~3: B waits for it about every time.
            self.assertGreater(b_wait, 0.1e9, msg)
            at_waiter = [x for x in b if names(x["waiter"])[0] == "lock_waiter"]
            self.assertGreaterEqual(sum(x["wait_ns"] for x in at_waiter), 0.9 * b_wait, msg)
            # It waits in its `with lock:` line; a lock's holder is not known.
            self.assertEqual({x["waiter"]["frames"][0]["line"] for x in at_waiter},
                             {line_of("with lock:", after="def lock_waiter():")}, msg)
            self.assertTrue(all(not x["holder"]["frames"] for x in locks), msg)
            # The waits attributed to stacks are the threading locks' contended waits.
            attributed = sum(x["wait_ns"] for x in locks)
            self.assertLessEqual(abs(attributed - p["threading_wait_ns"]),
                                 0.05 * p["threading_wait_ns"], msg)
        self.each(check)

    def test_threading_lock_folded_stacks(self):
        label, prefix, copy_in = next(
            ((l, p, c) for l, p, c in self.found if "3.12" in l), (None, None, None))
        if not label:
            self.skipTest("no CPython 3.12 found")
        t = Target(prefix, copy_in, "locks", CAPTURE_S + 1)
        try:
            g = subprocess.Popen([GILSTAT, "stacks", "--pid", str(t.proc.pid), "--duration",
                                  str(CAPTURE_S), "--folded", "--lock", "threading"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            g.stderr.readline()
            t.go()
            out, err = g.communicate(timeout=120)
        finally:
            t.close()
        self.assertEqual(g.returncode, 0, err)
        # The heaviest line is the waiter's: ...;b_locks (...);lock_waiter (...:LINE) MICROSECONDS.
        lines = sorted(out.splitlines(), key=lambda l: int(l.rsplit(" ", 1)[1]))
        self.assertTrue(lines, err)
        self.assertRegex(lines[-1], r";b_locks \(.*pystacks\.py:\d+\);lock_waiter \(.*"
                                    r"pystacks\.py:%d\) \d+$"
                         % line_of("with lock:", after="def lock_waiter():"))
        # No blame view for a lock whose holder is not known: a usage error.
        r = subprocess.run([GILSTAT, "stacks", "--pid", "1", "--holders", "--lock", "threading"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--holders", r.stderr)

    def test_deep_stacks_are_truncated_and_counted(self):
        def check(label, prefix, copy_in):
            p = self.stacks_of(prefix, copy_in, "deep")
            deep = [x for x in p["pairs"] if names(x["waiter"])[:2] == ["waiter", "recurse"]]
            msg = f"{label}: {json.dumps(p)[:2000]}"
            self.assertTrue(deep, msg)
            self.assertTrue(all(x["waiter"]["truncated"] for x in deep), msg)
            self.assertTrue(all(len(x["waiter"]["frames"]) == 64 for x in deep), msg)
            self.assertGreater(p["health"]["truncated"], 0, msg)
        self.each(check, only=("3.12", "sid:/usr/bin/python3.14"))

    def test_code_made_at_run_time_is_never_misnamed(self):
        # Every frame's name is the one its file defines: the program's functions, exec'd code
        # (file "<made>": the functions made_N, or the exec'd source's own body, "<module>",
        # when a GIL wait or a holder was caught while it ran), the threading module's own, the
        # interpreter's entry frame (3.12+: its code object "<interpreter trampoline>" in
        # "<shim>", hidden by its owner, but a running holder's stack read while the frame is
        # being pushed can show it); or shown as gone.
        program = {"hog", "waiter", "recurse", "churn", "b_main", "<module>",
                   "churn.<locals>.<lambda>"}

        def check(label, prefix, copy_in):
            p = self.stacks_of(prefix, copy_in, "churn")
            frames = [f for x in p["pairs"] for s in ("waiter", "holder")
                      for f in x[s]["frames"]]
            made = [f for f in frames if f["file"] == "<made>"]
            self.assertTrue(made, f"{label}: no exec'd code on the stacks")
            for f in frames:
                name, file = f["function"], f["file"]
                if file.endswith("pystacks.py"):
                    ok = name in program
                elif file == "<made>":
                    ok = re.fullmatch(r"made_\d+|<module>", name) is not None
                elif file.endswith("threading.py"):
                    ok = bool(re.fullmatch(r"[A-Za-z_.<>]+", name))
                elif file == "<shim>":
                    ok = name == "<interpreter trampoline>"
                else:
                    ok = name == "[code object gone]" and file == ""
                self.assertTrue(ok, f"{label}: frame {f} misnamed")
        self.each(check, only=("3.12", "sid:/usr/bin/python3.14"))

    def test_a_target_that_exits_mid_capture_is_kept(self):
        def check(label, prefix, copy_in):
            t = Target(prefix, copy_in, "plain", 1.2)
            try:
                g = subprocess.Popen([GILSTAT, "stacks", "--pid", str(t.proc.pid), "--duration",
                                      "3", "--json"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                g.stderr.readline()
                t.go()
                self.assertEqual(t.proc.stdout.readline().strip(), "done")
                t.proc.stdin.close()  # the program ends
                t.proc.wait(timeout=30)
                out, err = g.communicate(timeout=120)
            finally:
                t.close()
            self.assertEqual(g.returncode, 0, err)
            p = process_of(self, json.loads(out), t.proc.pid)
            self.assertTrue(any("waiter" in names(x["waiter"]) for x in p["pairs"]), out[:2000])
            self.assertEqual(p["comm"], os.path.basename(prefix[-1])[:15])
        self.each(check, only=("3.12",))

    def test_pprof_and_flame_graph_faces(self):
        label, prefix, copy_in = next(
            ((l, p, c) for l, p, c in self.found if "3.12" in l), (None, None, None))
        if not label:
            self.skipTest("no CPython 3.12 found")
        tmp = tempfile.mkdtemp(prefix="gilstat-stacks-")
        try:
            pb, svg = os.path.join(tmp, "gil.pb.gz"), os.path.join(tmp, "gil.svg")
            # OCR misreads a row of narrow boxes now and then (CI once read the holder's row,
            # two `hog` boxes, as "EE=SeeQuUrM_eaul"): a second capture, split differently, must
            # read; two misses in a row fail.
            for attempt in (1, 2):
                t = Target(prefix, copy_in, "plain", CAPTURE_S + 1)
                try:
                    run_stacks(self, t, "--pprof", pb, "--svg", svg)
                finally:
                    t.close()
                self.check_pprof(pb)
                missing, words = self.unreadable_in_a_browser(svg, tmp, ("waiter", "hog"))
                if not missing:
                    break
                print(f"\nflame graph, capture {attempt}: {missing} not read", file=sys.stderr)
            self.assertFalse(missing, f"{missing} not readable in the rendered flame graph:\n"
                                      f"{words}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def check_pprof(self, pb):
        rows, text = pprof_top(self, pb)
        # B's waits at waiter, most of the process's.
        self.assertTrue(rows and rows[0][1] == "waiter" and rows[0][0] >= 80.0, text)

    def unreadable_in_a_browser(self, svg, tmp, names):
        """The `names` that OCR does not read in `svg` as headless Chromium renders it, and what
        it read."""
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        tesseract = shutil.which("tesseract")
        self.assertIsNotNone(chromium, "chromium missing: scripts/deps.sh installs it")
        self.assertIsNotNone(tesseract, "tesseract missing: scripts/deps.sh installs it")
        png = os.path.join(tmp, "gil.png")
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--hide-scrollbars", "--window-size=1200,800",
                            "--force-device-scale-factor=3", f"--screenshot={png}",
                            "file://" + svg], capture_output=True, text=True, timeout=120,
                           cwd=tmp)
        self.assertTrue(os.path.exists(png), r.stderr[-2000:])
        # Frames are separate coloured boxes, not a page of paragraphs: tesseract reads them as
        # sparse text (--psm 11) or as one block (--psm 6); a name either way is readable.
        words = ""
        for psm in ("11", "6"):
            ocr = subprocess.run([tesseract, png, "-", "--psm", psm], capture_output=True,
                                 text=True, timeout=120)
            words += ocr.stdout
        # OCR reads an underscore unreliably: names without one.
        return [n for n in names if n not in words], words


def get(url, timeout):
    """(status, body bytes) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def pprof_top(case, path, sample_type="gil_wait"):
    """`go tool pprof -top` of the profile at `path`: [(flat %, function)]."""
    go = shutil.which("go")
    case.assertIsNotNone(go, "go (golang-go) missing: scripts/deps.sh installs it")
    r = subprocess.run([go, "tool", "pprof", "-top", path], capture_output=True, text=True,
                       timeout=120)
    case.assertEqual(r.returncode, 0, r.stderr)
    case.assertIn("Type: " + sample_type, r.stdout)
    rows = []
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[1].endswith("%"):
            rows.append((float(f[1].rstrip("%")), f[5]))
    return rows, r.stdout


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class GilstatdProfiles(unittest.TestCase):
    """gilstatd with probes.python_stacks: /debug/pprof/gil_wait, gil_blame and lock_wait over N
    seconds."""

    @contextlib.contextmanager
    def stacks_daemon(self, version, mode):
        """gilstatd with probes.python_stacks attached to pystacks.py MODE (under a CPython
        `version`, else the first found), not yet released: (label, target, daemon, tmp)."""
        if not TESTPROGS or not os.environ.get("GILSTATD"):
            self.skipTest("TESTPROGS_DIR or GILSTATD not set (run through ctest)")
        found = [f for f in interpreters() if version in f[0]] or interpreters()
        if not found:
            self.skipTest("no CPython 3.11+ found")
        label, prefix, copy_in = found[0]
        t = Target(prefix, copy_in, mode, 8)
        tmp = tempfile.mkdtemp(prefix="gilstat-profiles-")
        d = start_gilstatd(tmp, "targets:\n  - pid: %d\nruntime:\n  enabled: false\n"
                                "probes:\n  python_stacks: true\n" % t.proc.pid)
        try:
            d.wait_attached(1)
            yield label, t, d, tmp
        finally:
            d.stop(timeout=60)
            d.close()
            t.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def assert_on_top(self, label, d, tmp, path, leaf, sample_type="gil_wait"):
        """The profile at /debug/pprof/PATH over 2 s has `leaf` on top (>= 80%)."""
        status, body = get("http://127.0.0.1:%d/debug/pprof/%s?seconds=2" % (d.port, path),
                           timeout=30)
        self.assertEqual(status, 200, body[:300])
        pb = os.path.join(tmp, path + ".pb.gz")
        with open(pb, "wb") as f:
            f.write(body)
        rows, text = pprof_top(self, pb, sample_type)
        self.assertTrue(rows and rows[0][1] == leaf and rows[0][0] >= 80, f"{label}:\n{text}")

    def test_wait_and_blame_profiles(self):
        with self.stacks_daemon("3.12", "plain") as (label, t, d, tmp):
            status, body = get("http://127.0.0.1:%d/debug/pprof/gil_wait?seconds=0" % d.port,
                               timeout=10)
            self.assertEqual(status, 400, body)
            t.go()
            for path, leaf in (("gil_wait", "waiter"), ("gil_blame", "hog")):
                self.assert_on_top(label, d, tmp, path, leaf)

    def test_lock_wait_profile(self):
        with self.stacks_daemon("3.13", "locks") as (label, t, d, tmp):
            t.go()
            self.assert_on_top(label, d, tmp, "lock_wait", "lock_waiter", "lock_wait")

    def test_off_by_default(self):
        if not os.environ.get("GILSTATD"):
            self.skipTest("GILSTATD not set (run through ctest)")
        tmp = tempfile.mkdtemp(prefix="gilstat-profiles-")
        d = start_gilstatd(tmp, "runtime:\n  enabled: false\n")
        try:
            d.wait_serving()
            status, body = get("http://127.0.0.1:%d/debug/pprof/gil_wait?seconds=1" % d.port,
                               timeout=10)
            self.assertEqual(status, 404)
            self.assertIn(b"probes.python_stacks: true", body)
        finally:
            d.stop(timeout=60)
            d.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
