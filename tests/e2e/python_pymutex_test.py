#!/usr/bin/env python3
"""threading locks of CPython 3.13+ per lock under gilstatd with labels.lock_address: a
contended lock's parked waits are counted for the lock's own address, not for the per-thread
semaphores the parking lot sleeps on (docs/PYTHON.md, "Threading locks").

pymutex.py runs THREADS threads taking one `hot` threading.Lock N times each and a `cold` lock
taken by one thread only, and prints both locks' addresses (the PyMutex inside the object from
3.14, the sem_t the object points to on 3.13) and how many acquisitions found `hot` held. While
it runs, the test samples the futex words its threads sleep on (/proc/PID/task/*/syscall): the
parking semaphores on their stacks. Checked per interpreter (pyenv's 3.13, the sid root's
stripped 3.14 and 3.15 in a chroot and in a container; those absent are skipped saying why):

- a series lock="threading@0x<hot>" with contended waits close to the program's count (each
  found-held acquisition sleeps once: the lock is held 2 ms, long enough for the waiter to be
  handed it directly), a wait histogram of as many waits, and as many handoffs;
- no series for `cold` (never contended) and none at any sampled parking semaphore;
- the summed lock="threading" series (without the address label) are python_gil_test.py's.

Needs root and BTF (skips saying why otherwise). Environment: GILSTATD, TESTPROGS_DIR,
GILSTAT_SID_ROOT; PYMUTEX_MODE=counting|exact runs it in that probe mode (every semaphore then
has a series and its waits are all timed: `cold` must show no contended wait), and
GILSTAT_FUTEX_PROGRAM=sys_enter with the syscall-tracepoint fallback.
"""
import glob
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import bpf_unavailable  # noqa: E402
from python_gil_test import CONFIG, GilstatdCase  # noqa: E402

N = 200
THREADS = 2


def futex_words(pid, stop, out):
    """Adds to `out` the futex word of every futex call the threads of `pid` sleep in that lies on
    the sleeping thread's stack (within 64 KiB above its stack pointer: the parking lot's wait
    entries, with their semaphores), every 2 ms until `stop` is set."""
    while not stop.is_set():
        for f in glob.glob(f"/proc/{pid}/task/*/syscall"):
            try:
                with open(f) as fh:
                    fields = fh.read().split()
            except OSError:
                continue
            # "202 uaddr op ... sp pc": a futex call (x86-64).
            if len(fields) == 9 and fields[0] == "202":
                word, sp = int(fields[1], 16), int(fields[7], 16)
                if sp <= word < sp + 65536:
                    out.add(word)
        time.sleep(0.002)


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class PyMutexPerLock(GilstatdCase):
    CONFIG = CONFIG.replace("cmdline: \"(", "cmdline: \"(pymutex|").replace(
        "  pid: true\n", "  pid: true\n  lock_address: true\n")
    if os.environ.get("PYMUTEX_MODE"):  # counting or exact, for debugging
        CONFIG += "probes:\n  mode: %s\n" % os.environ["PYMUTEX_MODE"]

    @classmethod
    def choose(cls, interpreters):
        chosen = [i for i in interpreters if i[1].startswith("3.13.") and "sid:" not in i[0]][:1]
        chosen += [i for i in interpreters if i[0].startswith("sid:") and "-dbg" not in i[0]]
        if not chosen:
            print("\nno CPython 3.13+ found (pyenv's 3.13, the sid root's 3.14/3.15)",
                  file=sys.stderr)
        return chosen

    def series(self, scrape, pid):
        """{lock label: value} of gilstat_lock_contended_total for `pid`."""
        return {s.labels["lock"]: s.value for s in scrape.samples
                if s.name == "gilstat_lock_contended_total" and s.labels.get("pid") == str(pid)}

    def test_contended_lock_named_by_its_mutex(self):
        def check(py, version):
            s, pid, info = self.start(py, "pymutex.py", N, THREADS)
            words, stop = set(), threading.Event()
            sampler = threading.Thread(target=futex_words, args=(pid, stop, words))
            sampler.start()
            try:
                out = s.run()
                stop.set()
                sampler.join()
                after = self.d.scrape()
                s.finish()
            finally:
                stop.set()
                s.kill()
            hot = "threading@0x%x" % int(out["hot"])
            cold = "threading@0x%x" % int(out["cold"])
            locks = self.series(after, pid)
            found = out["found_held"]
            msg = (f"{py}: hot {hot}, cold {cold}, found held {found:.0f}, series {locks}, "
                   f"futex words {sorted(hex(w) for w in words)}")
            self.assertIn(hot, locks, msg)
            contended = locks[hot]
            lbl = dict(pid=pid, lock=hot, source="ebpf")
            waits = after.get("gilstat_lock_wait_seconds_count", **lbl)
            handoffs = after.get("gilstat_lock_handoffs_total", **lbl)
            self.report.append(f"{version:8} {py}: {hot}: contended {contended:.0f} (program: "
                               f"{found:.0f} found held), handoffs {handoffs:.0f}; the others "
                               f"{ {k: v for k, v in locks.items() if k != hot} }")
            self.assertGreater(found, 50, msg)  # the workload contends
            self.assertGreaterEqual(contended, 0.9 * found - 5, msg)
            self.assertLessEqual(contended, 1.25 * found + 5, msg)
            # Every mode times the waits that blocked and more: default mode every wait on the
            # semaphore's slow path (a parking semaphore is waited on to sleep: nearly all), the
            # others every wait.
            self.assertGreaterEqual(waits, contended, msg)
            if not os.environ.get("PYMUTEX_MODE"):
                self.assertLessEqual(waits, 1.25 * found + 5, msg)
            self.assertGreaterEqual(handoffs, 0.9 * contended, msg)
            # Default mode exports contended locks only; the others every semaphore seen.
            if os.environ.get("PYMUTEX_MODE"):
                self.assertEqual(locks.get(cold, 0), 0, msg)
            else:
                self.assertNotIn(cold, locks, msg)
            self.assertTrue(words, msg)
            for w in words:
                self.assertNotIn("threading@0x%x" % w, locks, msg)
        self.for_each_interpreter(check)


if __name__ == "__main__":
    unittest.main(verbosity=2)
