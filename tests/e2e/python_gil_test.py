#!/usr/bin/env python3
"""The GIL of real CPython processes under gilstatd, for every interpreter found on this
machine: Debian's /usr/bin/python3 always, and every other CPython on PATH or in the usual
install locations (pyenv, /usr/local, /opt). For each one three scripts run under one gilstatd
(targets by command line, per-pid labels), and the scraped deltas are checked against what the
workload implies:

- pygil_cpu.py, two CPU-bound threads: GIL waits, contention and handoffs under lock="gil", the
  handoffs forced, and the interpreter's own switch counter (gil->switch_number, read from its
  memory) agrees with the probes' handoff count within 10% + 5, most handoffs have a handoff
  latency; in the default mode (method gil_condvar for every CPython 3) there is no acquisition
  count and no hold histogram; in
  exact mode (probes.python: exact, one interpreter with symbols under a second gilstatd,
  method take_gil) each thread waits about as long as the other holds (wait sum ~ hold sum);
- pygil_convoy.py, an I/O thread answering requests (1 ms apart, from another process) over a
  socketpair while a CPU-bound thread runs: every request finds the GIL held; on 3.x the I/O
  thread's waits are long (a switch interval, 5 ms) and come with drop requests;
- pylock.py, two threads handing threading.Locks to each other: the waits are threading-lock
  waits (lock="threading"), not GIL waits.
- pygil_subinterp.py (CPython 3.12+, pyenv's and the sid root's in a chroot; under gilstatds of
  their own, default and exact mode): two sub-interpreters with their own GIL, two spinning
  threads in each: each sub-interpreter's GIL is its own series (lock="gil@interpreter-<id>")
  with its threads' contention, handoffs and wait, and the main GIL (lock="gil") does not get
  them.

The Debian sid root of scripts/sid_root.sh (CPython 3.14, 3.15 and 3.14's debug build, as the
distribution ships them) adds each of its interpreters twice: run in a chroot, and in a container
(its own mount and pid namespace, `unshare --mount --pid --fork` then chroot: the interpreter is
pid 1 there); the test scripts are copied into the root. When the root is absent those runs are
skipped, saying why.

It prints which interpreters were found and which measurement method each used. Needs root and
BTF (skips saying why otherwise). Environment: GILSTATD, TESTPROGS_DIR, GILSTAT_SID_ROOT.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import bpf_unavailable, start_gilstatd, wait_for  # noqa: E402
from gilstat_bench import sid  # noqa: E402  (harness puts bench/ on the path)

TESTPROGS = os.environ.get("TESTPROGS_DIR", "")
# How to start an interpreter that is not a plain path: {label: argv prefix}; a script is
# copied into its root by COPY_IN[label] (default: the sid root's copy_in).
LAUNCH = {}
COPY_IN = {}


def sid_interpreters():
    """The sid root's interpreters (bench/gilstat_bench/sid.py), each in a chroot and in a
    container, registered in LAUNCH; (interpreters, why none)."""
    out = []
    for exe in sid.interpreters(sid.SID_PYTHONS + (sid.SID_DEBUG_PYTHON,)):
        v = subprocess.run(sid.launcher(exe) + ["-c", "import sys; print('%d.%d.%d' % "
                                                "sys.version_info[:3])"],
                           capture_output=True, text=True, timeout=30)
        if v.returncode != 0:
            continue
        for how in ("chroot", "container"):
            label = f"sid:{exe} ({how})"
            LAUNCH[label] = sid.launcher(exe, container=how == "container")
            out.append((label, v.stdout.strip()))
    return out, "" if out else sid.why_absent()


def child_pid(pid, timeout=10):
    """The first child of process `pid` (the interpreter under `unshare --fork`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    raise AssertionError(f"process {pid} started no child")


def find_interpreters():
    """Executable CPythons, one per real file: Debian's python3 first."""
    cands = ["/usr/bin/python3"]
    for pattern in ("/usr/bin/python2*", "/usr/bin/python3.*", "/usr/local/bin/python[23]*",
                    "/root/.pyenv/versions/*/bin/python", "/opt/python*/bin/python[23]",
                    "/opt/*/bin/python[23]"):
        cands += sorted(glob.glob(pattern))
    for d in os.environ.get("PATH", "").split(":"):
        for name in ("python", "python2", "python2.7", "python3"):
            p = shutil.which(name, path=d)
            if p:
                cands.append(p)
    seen, out = set(), []
    for c in cands:
        if not os.access(c, os.X_OK) or os.path.isdir(c) or re.search(r"-config$|-dbg", c):
            continue
        try:
            # The interpreter says which file it is: launchers and shims lead to the same one.
            v = subprocess.run([c, "-c", "import sys, os; print('%d.%d.%d %s' % (sys.version_info[:3]"
                                " + (os.path.realpath(sys.executable),)))"],
                               capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.match(r"^([23]\.\d+\.\d+) (\S+)$", v.stdout.strip())
        if v.returncode != 0 or not m or m.group(2) in seen:
            continue
        seen.add(m.group(2))
        out.append((m.group(2) if c != "/usr/bin/python3" else c, m.group(1)))
    return out


def one_of_each(interpreters, kinds):
    """The first of `interpreters` ([(path, version)]) of each kind: a version prefix ("2.7.") or
    an exact path ("/usr/bin/python3")."""
    keep, seen = [], set()
    for path, version in interpreters:
        kind = next((k for k in kinds if version.startswith(k) or path == k), None)
        if kind is not None and kind not in seen:
            seen.add(kind)
            keep.append((path, version))
    return keep


class Script:
    """A test script speaking the testprogs protocol: "ready", a line on stdin, output, "done"."""

    def __init__(self, interpreter, script, *args):
        path = os.path.join(TESTPROGS, script)
        prefix = LAUNCH.get(interpreter)
        if prefix:
            path = COPY_IN.get(interpreter, sid.copy_in)(path)
        self.proc = subprocess.Popen([*(prefix or [interpreter]), path, *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        # The interpreter's own pid: under unshare --fork, the child (chroot execs it).
        self.pid = child_pid(self.proc.pid) if prefix and "--fork" in prefix else self.proc.pid
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.kill()
            raise AssertionError(f"{interpreter} {script}: expected 'ready', got {line!r}")

    def run(self):
        """Runs the workload; the process stays until finish()."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        out = {}
        for line in self.proc.stdout:
            line = line.strip()
            if line == "done":
                break
            key, _, rest = line.rpartition(" ")
            out[key] = float(rest)
        return out

    def finish(self):
        self.proc.stdin.close()
        if self.proc.wait(timeout=30) != 0:
            raise AssertionError(f"script exited with {self.proc.returncode}")
        self.proc.stdout.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if not f.closed:
                f.close()


CONFIG = """\
targets:
  - cmdline: "(pygil_cpu|pygil_convoy|pylock)\\\\.py"
labels:
  pid: true
runtime:
  enabled: false
rescan_interval: 500ms
"""


CONFIG_EXACT = CONFIG + """\
probes:
  python: exact
"""


def check_cpu_bound(case, py, version):
    """pygil_cpu.py's checks, per method (see the module's docstring)."""
    info, out, delta, _ = case.measure(py, "pygil_cpu.py", 2, 1.5)
    method = info["method"]
    elapsed = out["elapsed"]
    case.report.append(f"{version:8} {py}: build {info['build']}, method {method}")
    gil = dict(lock="gil", source="ebpf")
    contended = delta("gilstat_lock_contended_total", **gil)
    handoffs = delta("gilstat_lock_handoffs_total", **gil)
    wait = delta("gilstat_lock_wait_seconds_sum", **gil)
    slow = delta("gilstat_lock_wait_seconds_count", **gil)
    msg = (f"{py} ({method}): contended {contended}, handoffs {handoffs}, wait {wait}, "
           f"slow-path waits {slow}, script output {out}")
    if method == "none" or method == "gil_disabled":
        case.assertIsNone(contended, msg)
        return method
    case.assertGreater(contended, 20, msg)
    case.assertGreater(handoffs, 20, msg)
    # One of the two spinners waits while the other holds, all the time: with a CPU each.
    # 2.x: when other processes keep one CPU busy, the scheduler runs the two spinners
    # in turns on the other one, and the GIL changes hands with the time slice (~250
    # slow-path waits/s instead of 25-130k/s): the thread waiting for its turn is runnable,
    # not blocked on the GIL, and no GIL probe can see that wait. Less than a CPU each for part
    # of the run (the process's CPU time under 1.7 x elapsed; 1.87 x measured on an idle
    # machine, where the waiter hardly sleeps under the probes) moves the figure between the
    # two (0.25 s of wait in 1.5 s seen in CI, 0.77 s alone): not checked either.
    cpu = out.get("cpu", 2 * elapsed)
    if method == "interpreter_lock" and (slow < 5000 * elapsed or cpu < 1.7 * elapsed):
        print(f"\n  {py}: {slow:.0f} waits on the GIL's slow path and {cpu:.2f} s of CPU in "
              f"{elapsed:.1f} s: the spinners shared the CPUs (the machine is busy); GIL wait "
              "not checked", file=sys.stderr)
    elif method == "interpreter_lock":
        # 2.x: most waits end without sleeping (the holder releases every 100 ticks, the waiter
        # takes it in sem_wait's loop), and each costs the slow path's entry uprobe before its
        # wait is stamped (~6 µs on a VM with slow traps, at ~130k waits/s): 0.48-0.76 s over
        # 1.5 s measured there (docs/PYTHON.md, Limits).
        case.assertGreater(wait, 0.25 * elapsed, msg)
    else:
        case.assertGreater(wait, 0.4 * elapsed, msg)
    if method in ("take_gil", "gil_condvar"):
        # Handoff latency in both methods (the condvar's: from the release's wake-up of the
        # sleeping waiter): nearly every forced handoff has one, each shorter than a switch
        # interval on average.
        latencies = delta("gilstat_lock_handoff_latency_seconds_count", **gil)
        latency = delta("gilstat_lock_handoff_latency_seconds_sum", **gil)
        case.assertIsNotNone(latencies, msg)
        case.assertGreater(latencies, 0.5 * handoffs, f"{msg}, {latencies} latencies")
        case.assertLessEqual(latencies, handoffs, msg)
        case.assertLess(latency / latencies, 0.005, f"{msg}, handoff latency {latency}")
        case.report[-1] += f", handoff latency {1e6 * latency / latencies:.0f} us"
        switches = delta("gilstat_python_gil_switches_total")
        case.assertIsNotNone(switches, msg)
        case.assertLessEqual(abs(switches - handoffs), 0.1 * max(switches, handoffs) + 5,
                             f"{msg}, interpreter's switch_number {switches}")
        case.assertGreater(delta("gilstat_python_gil_drop_requests_total"), 20, msg)
        case.report[-1] += f", handoffs {handoffs:.0f} vs switch_number {switches:.0f}"
        forced = delta("gilstat_gil_switches_total", reason="forced", **gil)
        voluntary = delta("gilstat_gil_switches_total", reason="voluntary", **gil)
        case.assertIsNotNone(forced, msg)
        case.assertGreater(forced, voluntary, f"{msg}: forced {forced}, vol {voluntary}")
    if method == "take_gil":
        hold = delta("gilstat_gil_hold_seconds_sum", **gil)
        ratio = wait / hold
        case.assertTrue(0.5 < ratio < 2.0, f"{msg}, hold {hold}: wait/hold {ratio:.2f}")
        case.assertGreater(delta("gilstat_lock_acquisitions_total", **gil), handoffs)
        case.report[-1] += f", wait/hold {ratio:.2f}"
    if method == "gil_condvar":
        # Every switch was to a waiting thread: the handoffs split into forced and voluntary.
        case.assertEqual(forced + voluntary, handoffs, msg)
        case.assertIsNone(delta("gilstat_gil_hold_seconds_sum", **gil), msg)
    if method in ("gil_condvar", "interpreter_lock"):
        # Only contended acquisitions are seen (the condvar; the semaphore probe in
        # default mode, which probes only sem_wait's slow path): no acquisition count is
        # exported.
        case.assertIsNone(delta("gilstat_lock_acquisitions_total", **gil), msg)
    return method


class GilstatdCase(unittest.TestCase):
    """One gilstatd (configuration CONFIG) for the class's tests; no tests of its own."""

    CONFIG = CONFIG
    found = None  # [(path, version)] of every interpreter found, shared by the subclasses

    @classmethod
    def setUpClass(cls):
        if not TESTPROGS:
            raise unittest.SkipTest("TESTPROGS_DIR not set (run through ctest)")
        if GilstatdCase.found is None:  # once per run: each class of the file tests the same
            sid, why = sid_interpreters()
            if why:
                print(f"\nthe sid root's interpreters are not tested: {why}", file=sys.stderr)
            GilstatdCase.found = find_interpreters() + sid
        cls.interpreters = list(GilstatdCase.found)
        only = os.environ.get("PYGIL_ONLY")  # a substring of the paths to test, for debugging
        if only:
            cls.interpreters = [i for i in cls.interpreters if only in i[0]]
        print("\nCPython interpreters found:", file=sys.stderr)
        for path, version in cls.interpreters:
            print(f"  {version:8} {path}", file=sys.stderr)
        cls.interpreters = cls.choose(cls.interpreters)
        cls.tmp = tempfile.TemporaryDirectory(prefix="gilstat-py-")
        cls.d = start_gilstatd(cls.tmp.name, cls.CONFIG)
        cls.d.wait_serving()
        cls.report = []

    # Under the sanitizers (GILSTAT_SANITIZE set by CMake) one interpreter per way gilstatd
    # finds and reads a GIL, not all of them: 2.7's semaphore, the 3.12 table and its
    # sub-interpreters, Debian's stripped 3.11, and the sid root's stripped 3.14 (a chroot; the
    # _Py_DebugOffsets of 3.13+). The release build runs every interpreter.
    SANITIZER_SUBSET = ("2.7.", "3.12.", "/usr/bin/python3", "sid:/usr/bin/python3.14 (chroot)")

    @classmethod
    def choose(cls, interpreters):
        if not os.environ.get("GILSTAT_SANITIZE"):
            return interpreters
        keep = one_of_each(interpreters, cls.SANITIZER_SUBSET)
        print("sanitizer build: testing " + ", ".join(v for _, v in keep), file=sys.stderr)
        return keep

    @classmethod
    def tearDownClass(cls):
        print("\nmethod per interpreter:", file=sys.stderr)
        for line in cls.report:
            print("  " + line, file=sys.stderr)
        # Every script's uprobe links are destroyed one kernel grace period after another
        # (docs/PYTHON.md, Limits): after ~30 short-lived targets that can take a while.
        rc = cls.d.stop(timeout=120)
        cls.d.close()
        cls.tmp.cleanup()
        assert rc == 0, f"gilstatd exited with {rc}"

    def start(self, interpreter, script, *args):
        """Starts a script and waits until gilstatd has identified and attached to it."""
        s = Script(interpreter, script, *args)
        pid = s.pid

        def info():
            return self.d.scrape().labels_of("gilstat_python_info", pid=pid)

        try:
            labels = wait_for(f"{script} ({interpreter}) attached", info, timeout=20)
        except AssertionError:
            s.kill()
            raise AssertionError(f"{interpreter} {script} not attached; gilstatd log:\n"
                                 + self.d.output()[-3000:])
        return s, pid, labels

    def measure(self, interpreter, script, *args, settle=0):
        """Runs `script` between two scrapes; `settle`: seconds to wait, then scrape, before the
        first one."""
        s, pid, info = self.start(interpreter, script, *args)
        try:
            if settle:
                time.sleep(settle)
                self.d.scrape()
            before = self.d.scrape()
            out = s.run()
            # While the process still exists: its series go when it exits.
            after = self.d.scrape()
            s.finish()
        finally:
            s.kill()

        def delta(name, **labels):
            a = after.get(name, pid=pid, **labels)
            b = before.get(name, pid=pid, **labels)
            return None if a is None else a - (b or 0)

        def buckets(name, **labels):
            a = after.buckets(name, pid=pid, **labels)
            b = before.buckets(name, pid=pid, **labels)
            return {le: v - b.get(le, 0) for le, v in a.items()}

        return info, out, delta, buckets

    def for_each_interpreter(self, fn):
        if not self.interpreters:
            self.skipTest("no CPython found")
        for path, version in self.interpreters:
            with self.subTest(interpreter=path, version=version):
                fn(path, version)


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PythonGil(GilstatdCase):
    """Every interpreter found, in the default configuration."""

    # --- the scenarios ----------------------------------------------------------------------

    def test_cpu_bound_threads(self):
        self.for_each_interpreter(lambda py, version: check_cpu_bound(self, py, version))

    def test_convoy(self):
        def check(py, version):
            info, out, delta, buckets = self.measure(py, "pygil_convoy.py", 1.5)
            method = info["method"]
            trips = out["roundtrips"]
            gil = dict(lock="gil", source="ebpf")
            if method in ("none", "gil_disabled"):
                return
            contended = delta("gilstat_lock_contended_total", **gil)
            msg = f"{py} ({method}): {trips:.0f} round trips, contended {contended}"
            self.assertGreater(trips, 10, msg)
            # Every request (1 ms apart) wakes the I/O thread into a GIL the spinner holds. On
            # 2.x the spinner releases every 100 ticks and the I/O thread only sometimes has to
            # block for it (it may catch the GIL between a release and the re-acquisition): how
            # often depends on where the kernel runs the two threads. Measured on the 2-CPU VM
            # over ~1200 round trips: 259-749 contended acquisitions on a quiet machine, 22 in a
            # CI run (sanitizer build, the other CPU running tests); a default and an exact
            # gilstatd watching the same run counted 2044 and 2045. So on 2.x only that its
            # waits are seen at all.
            if method == "interpreter_lock":
                self.assertGreaterEqual(contended, 10, msg)
            else:
                self.assertGreaterEqual(contended, 0.5 * trips, msg)
            if method in ("take_gil", "gil_condvar"):
                # 3.x: each such wait lasts until the waiter's drop request is honoured, about a
                # switch interval (5 ms): the I/O thread's long waits (> 0.5 ms).
                b = buckets("gilstat_lock_wait_seconds", **gil)
                longer = lambda secs: b[float("inf")] - max(v for le, v in b.items() if le <= secs)
                long_waits = longer(0.001)
                # Most requests wait this long; how many depends on how quickly the kernel runs
                # the woken threads on a busy machine, hence 30%.
                self.assertGreaterEqual(long_waits, max(20, 0.3 * trips),
                                        f"{msg}, waits > 0.5 ms {long_waits}")
                self.assertGreaterEqual(longer(0.002), 10, f"{msg}: no wait > 2 ms")
                self.assertGreaterEqual(delta("gilstat_python_gil_drop_requests_total"),
                                        max(20, 0.3 * trips), msg)
            if method == "gil_condvar":
                # The I/O thread's waits end in forced releases (its drop requests). The CPU
                # thread never releases on its own: it waits only after a forced drop, and may
                # then be handed the GIL by the I/O thread's release around send or recv, a
                # voluntary handoff (on a busy machine after about every forced one: seen 283
                # forced, 284 voluntary in 140 round trips). So: forced ones against the round
                # trips, voluntary ones never more than the forced ones (+ start and end).
                handoffs = delta("gilstat_lock_handoffs_total", **gil)
                forced = delta("gilstat_gil_switches_total", reason="forced", **gil)
                voluntary = delta("gilstat_gil_switches_total", reason="voluntary", **gil)
                self.assertEqual(forced + voluntary, handoffs, msg)
                vs = f"{msg}: forced {forced}, vol {voluntary}"
                self.assertGreaterEqual(2 * forced, trips, vs)
                self.assertLessEqual(voluntary, forced + 5, vs)
        self.for_each_interpreter(check)

    def test_threading_lock_is_not_the_gil(self):
        def check(py, version):
            n = 100
            info, _, delta, _ = self.measure(py, "pylock.py", n)
            thr = dict(lock="threading", source="ebpf")
            handoffs = delta("gilstat_lock_handoffs_total", **thr)
            wait = delta("gilstat_lock_wait_seconds_sum", **thr)
            gil_wait = delta("gilstat_lock_wait_seconds_sum", lock="gil", source="ebpf") or 0
            msg = (f"{py} ({info['method']}): threading handoffs {handoffs}, wait {wait}; "
                   f"GIL wait {gil_wait}")
            # Two locks handed over n times each, the releaser sleeping 1 ms first.
            self.assertGreaterEqual(handoffs, 2 * n * 0.9, msg)
            self.assertGreater(wait, 2 * n * 0.0005, msg)
            self.assertLess(gil_wait, 0.25 * wait, msg)
            self.assertIsNone(delta("gilstat_lock_handoffs_total", lock="other", source="ebpf"),
                              msg)
        self.for_each_interpreter(check)


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PythonGilExact(GilstatdCase):
    """probes.python: exact on one interpreter with symbols: every acquisition (take_gil); and on
    the sid root's 3.14 debug build (symbols) in a container, when there."""

    CONFIG = CONFIG_EXACT

    @classmethod
    def choose(cls, interpreters):
        preferred = [i for i in interpreters if "/3.12" in i[0]] + [
            i for i in interpreters if i[1].startswith("3.") and i[0] != "/usr/bin/python3"]
        return preferred[:1] + [i for i in interpreters if "python3.14-dbg (container)" in i[0]]

    def test_cpu_bound_threads_exact(self):
        def check(py, version):
            method = check_cpu_bound(self, py, version)
            if self.report and "build unstripped" in self.report[-1]:
                self.assertEqual(method, "take_gil", self.report[-1])
        self.for_each_interpreter(check)


CONFIG_SUBINTERP = CONFIG.replace("(pygil_cpu|pygil_convoy|pylock)", "pygil_subinterp")


def subinterpreter_pythons(interpreters, exact):
    """CPython 3.12+ (sub-interpreters with their own GIL): pyenv's, and the sid root's in a
    chroot (default mode; exact mode: those with symbols)."""
    out = []
    for path, version in interpreters:
        major, minor = (int(x) for x in version.split(".")[:2])
        if (major, minor) < (3, 12) or "(container)" in path or path == "/usr/bin/python3":
            continue
        if exact and path.startswith(sid.PREFIX) and "-dbg" not in path:
            continue  # stripped: no take_gil to probe
        out.append((path, version))
    return out


def check_subinterpreters(case, py, version, exact):
    """pygil_subinterp.py: two sub-interpreters with their own GIL, two spinning threads in each:
    each GIL is its own series (lock="gil@interpreter-<id>") with the contention, handoffs and
    wait of its two threads; the main interpreter's GIL (lock="gil"), whose threads only wait for
    the sub-interpreters, does not get theirs."""
    # The interpreter list is walked at attach and at scrapes (at most once a second): the
    # scrape after that second registers the sub-interpreters, which exist since "ready".
    info, out, measured, _ = case.measure(py, "pygil_subinterp.py", 2, 1.5, settle=1.2)

    def delta(name, **labels):
        return measured(name, source="ebpf", **labels)

    method = info["method"]
    elapsed = out["elapsed"]
    ids = [int(out["interpreter_0"]), int(out["interpreter_1"])]
    case.assertEqual(len(set(ids)), 2, out)
    report = f"{version:8} {py}: method {method}"
    main = delta("gilstat_lock_contended_total", lock="gil") or 0
    subs = []
    for i in ids:
        lock = f"gil@interpreter-{i}"
        contended = delta("gilstat_lock_contended_total", lock=lock)
        handoffs = delta("gilstat_lock_handoffs_total", lock=lock)
        wait = delta("gilstat_lock_wait_seconds_sum", lock=lock)
        msg = (f"{py} ({method}) {lock}: contended {contended}, handoffs {handoffs}, wait {wait}"
               f", main GIL contended {main}, script output {out}; gilstatd log:\n"
               + case.d.output()[-2000:])
        case.assertIsNotNone(contended, msg)
        case.assertGreater(contended, 20, msg)
        case.assertGreater(handoffs, 20, msg)
        # Four spinners on the machine's CPUs: each sub-interpreter's waiter waits most of the
        # time its partner holds (less when the spinners share CPUs with other load).
        case.assertGreater(wait, 0.2 * elapsed, msg)
        if exact:
            case.assertGreater(delta("gilstat_lock_acquisitions_total", lock=lock), handoffs, msg)
            case.assertIsNotNone(delta("gilstat_gil_hold_seconds_sum", lock=lock), msg)
        subs.append(contended)
        report += f", {lock} contended {contended:.0f}"
    # The main GIL is taken a few times around the sub-interpreters' start and end only.
    case.assertLess(main, 0.1 * min(subs), f"{py}: main GIL contended {main}, sub-interpreters "
                    f"{subs}: the sub-interpreters' waits are counted with the main GIL")
    case.report.append(report + f", gil contended {main:.0f}")


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PythonGilSubinterpreters(GilstatdCase):
    """Two sub-interpreters with their own GIL (3.12+), default mode: the GILs apart."""

    CONFIG = CONFIG_SUBINTERP

    @classmethod
    def choose(cls, interpreters):
        return subinterpreter_pythons(interpreters, exact=False)

    def test_subinterpreter_gils_apart(self):
        if not self.interpreters:
            self.skipTest("no CPython 3.12+ found (sub-interpreters with their own GIL)")
        self.for_each_interpreter(lambda py, v: check_subinterpreters(self, py, v, False))


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PythonGilSubinterpretersExact(GilstatdCase):
    """The same in exact mode (take_gil/drop_gil attributed by their arguments), on the
    interpreters with symbols."""

    CONFIG = CONFIG_SUBINTERP + """\
probes:
  python: exact
"""

    @classmethod
    def choose(cls, interpreters):
        return subinterpreter_pythons(interpreters, exact=True)

    def test_subinterpreter_gils_apart_exact(self):
        if not self.interpreters:
            self.skipTest("no CPython 3.12+ with symbols found")
        self.for_each_interpreter(lambda py, v: check_subinterpreters(self, py, v, True))

    def test_unregistered_subinterpreter_gils_are_not_the_main_one(self):
        """Sub-interpreters created and run between two scrapes (not registered yet): their
        take_gil/drop_gil calls are not counted for the main GIL."""
        def check(py, version):
            info, out, delta, _ = self.measure(py, "pygil_subinterp.py", 2, 1.5, "late")
            self.assertEqual(info["method"], "take_gil", py)
            main = delta("gilstat_lock_contended_total", lock="gil", source="ebpf") or 0
            taken = delta("gilstat_lock_acquisitions_total", lock="gil", source="ebpf") or 0
            # Four spinners on two GILs for 1.5 s: hundreds of contended acquisitions, were
            # they counted with the main GIL.
            self.assertLess(main, 20, f"{py}: main GIL contended {main}, acquisitions {taken}")
            self.report.append(f"{version:8} {py}: unregistered sub-interpreters, main GIL "
                               f"contended {main:.0f}, acquisitions {taken:.0f}")
        if not self.interpreters:
            self.skipTest("no CPython 3.12+ with symbols found")
        self.for_each_interpreter(check)


if __name__ == "__main__":
    unittest.main(verbosity=2)
