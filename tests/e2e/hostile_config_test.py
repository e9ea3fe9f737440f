#!/usr/bin/env python3
"""Hostile or unlucky configuration files (docs/SECURITY.md "Files the operator names"):

- a FIFO, /dev/zero, a directory or a 50 MB file as --config.file: gilstatd exits at once with
  status 2 and a message naming the file and what is wrong (no hang, no std::bad_alloc);
- a file it cannot open: the system's reason; duplicate keys and a second YAML document:
  refused with file:line:col;
- an empty file (or comments only, or `targets: []`): gilstatd starts and is ready, hosts no
  runtime (no series of source="runtime") and uses almost no CPU; a reload from a file that
  enables the runtime to an empty one stops the workload; a reload to a FIFO is refused at once
  and the daemon keeps serving;
- a `pid` target that does not exist: logged once and counted once in
  gilstat_attach_errors_total{reason="no_such_process"}, however many rescans;
- a dynamically linked process held right after its exec, before its loader mapped libc (a
  ptrace stop): retried, then counted as libc_not_loaded, never as a statically linked no_libc.

Environment: GILSTATD.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import GILSTATD, bpf_unavailable, free_port, start_gilstatd, wait_for  # noqa: E402
from gilstat_bench.procs import proc_cpu_seconds  # noqa: E402

EXIT_CONFIG = 2
QUICK = 5.0  # s: a refused file is refused at once (a hang would hit this)
IDLE_CPU = 0.1  # CPUs: an idle daemon (no workload) over IDLE_WINDOW
IDLE_WINDOW = 2.0
# The hosted runtime's convoy (its CPU thread busy: stopped by the reload to an empty file).
RUNTIME_ON = """runtime:
  enabled: true
  workload: convoy
  params: {client_period: 2ms}
"""


def runtime_samples(scrape):
    return [s for s in scrape.samples if s.labels.get("source") == "runtime"]


def idle_cpu(pid, window=IDLE_WINDOW):
    cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return (proc_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


class HostileConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gilstat-hostile-config-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def refused(self, config_path):
        """Runs gilstatd on `config_path`; returns its output after checking it exited quickly
        with the configuration-error status."""
        t0 = time.monotonic()
        try:
            out = subprocess.run(
                [GILSTATD, "--web.listen-address=127.0.0.1:%d" % free_port(),
                 "--config.file=" + config_path],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=QUICK)
        except subprocess.TimeoutExpired:
            self.fail("gilstatd did not exit within %g s on --config.file=%s" % (QUICK, config_path))
        text = out.stdout + out.stderr
        self.assertEqual(out.returncode, EXIT_CONFIG, "%s: %s" % (config_path, text))
        self.assertNotIn("bad_alloc", text)
        self.assertLess(time.monotonic() - t0, QUICK)
        return text

    def start(self, config_text, **kw):
        d = start_gilstatd(self.dir, config_text, **kw)
        self.daemons.append(d)
        return d

    def test_special_files_are_refused_at_once_by_name(self):
        fifo = self.path("fifo.yml")
        os.mkfifo(fifo)
        self.assertIn("%s is a FIFO, not a regular file" % fifo, self.refused(fifo))
        self.assertIn("/dev/zero is a character device, not a regular file",
                      self.refused("/dev/zero"))
        self.assertIn("%s is a directory, not a regular file" % self.dir, self.refused(self.dir))
        big = self.path("big.yml")
        with open(big, "w") as f:  # 50 MB of comments: valid YAML, far over the limit
            line = "#" + "x" * 1023 + "\n"
            for _ in range(50 * 1024):
                f.write(line)
        self.assertIn("%s is larger than 1048576 bytes" % big, self.refused(big))

    def test_open_failures_give_the_reason_and_bad_yaml_its_place(self):
        plain = self.write("plain", "x")
        self.assertIn("cannot open %s/gilstatd.yml: Not a directory" % plain,
                      self.refused(plain + "/gilstatd.yml"))
        self.assertIn("cannot open %s: No such file or directory" % self.path("missing.yml"),
                      self.refused(self.path("missing.yml")))
        dup = self.write("dup.yml", "targets: []\nrescan_interval: 1s\ntargets: [{pid: 1}]\n")
        self.assertIn("%s:3:1: duplicate key 'targets' (first at line 1)" % dup, self.refused(dup))
        two = self.write("two.yml", "targets: []\n---\ntargets: [{pid: 1}]\n")
        self.assertIn("%s:2:1: a second YAML document" % two, self.refused(two))
        pw_fifo = self.path("pw.fifo")
        os.mkfifo(pw_fifo)
        auth = self.write("auth.yml", "web:\n  basic_auth:\n    username: prom\n"
                                      "    password_file: %s\n" % pw_fifo)
        self.assertIn("%s:4:20: password_file: %s is a FIFO" % (auth, pw_fifo),
                      self.refused(auth))

    def test_an_empty_file_hosts_no_runtime(self):
        for text in ("", "# nothing configured yet\n", "targets: []\n"):
            with self.subTest(config=text):
                d = self.start(text)
                s = d.wait_serving(timeout=30)
                # It serves from before its "ready" line (logged once set up): on a busy
                # machine a scrape can answer first.
                wait_for("gilstatd's ready line", lambda: "ready: " in d.output(), 10, 0.05)
                time.sleep(0.5)  # a workload would have started by now
                cpus = idle_cpu(d.pid)
                s = d.scrape()
                self.assertEqual(runtime_samples(s), [], "runtime series with %r" % text)
                self.assertNotIn("hosted runtime", d.output())
                self.assertLess(cpus, IDLE_CPU, "gilstatd used %.2f CPU with %r" % (cpus, text))
                self.assertEqual(d.stop(), 0)

    def test_a_reload_to_an_empty_file_stops_the_runtime_and_to_a_fifo_is_refused(self):
        d = self.start(RUNTIME_ON)
        wait_for("the runtime's series", lambda: runtime_samples(d.scrape()), timeout=30)
        d.reconfigure("")
        wait_for("the reload", lambda: d.scrape().get("gilstat_config_reloads_total",
                                                      result="success") == 1, timeout=30)
        self.assertEqual(runtime_samples(d.scrape()), [])
        cpus = idle_cpu(d.pid)
        self.assertLess(cpus, IDLE_CPU, "gilstatd used %.2f CPU after the reload" % cpus)
        # The same configuration path, now a FIFO nobody writes: refused at once.
        os.unlink(d.config)
        os.mkfifo(d.config)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGHUP)
        wait_for("the refused reload", lambda: d.scrape(timeout=QUICK).get(
            "gilstat_config_reloads_total", result="failure") == 1, timeout=QUICK, interval=0.05)
        self.assertLess(time.monotonic() - t0, QUICK)
        self.assertIn("is a FIFO, not a regular file", d.output())
        self.assertEqual(d.stop(timeout=QUICK), 0)

    def test_a_nonexistent_pid_is_logged_and_counted_once(self):
        why = bpf_unavailable()
        if why:
            self.skipTest(why)
        pid = 999999
        while os.path.exists("/proc/%d" % pid):
            pid += 1
        d = self.start("targets:\n  - pid: %d\nrescan_interval: 100ms\n" % pid)
        d.wait_serving(timeout=30)
        wait_for("the missing pid counted", lambda: d.scrape().get(
            "gilstat_attach_errors_total", reason="no_such_process") == 1, timeout=30)
        time.sleep(1.5)  # more than ten rescans later
        s = d.scrape()
        self.assertEqual(s.get("gilstat_attach_errors_total", reason="no_such_process"), 1)
        lines = [l for l in d.output().splitlines() if str(pid) in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("warn", lines[0])
        self.assertIn("no such process", lines[0])
        self.assertEqual(d.stop(), 0)

    def test_a_process_caught_before_its_loader_is_not_called_static(self):
        why = bpf_unavailable()
        if why:
            self.skipTest(why)
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope") as f:
                if f.read().strip() == "3":
                    self.skipTest("ptrace disabled (kernel.yama.ptrace_scope = 3)")
        except OSError:
            pass
        libc = ctypes.CDLL(None, use_errno=True)
        # PTRACE_TRACEME: the child stops (SIGTRAP) as its exec completes, before the dynamic
        # loader has run: it maps /bin/sleep and ld.so, no libc, and stays so.
        child = subprocess.Popen(["/bin/sleep", "60"], preexec_fn=lambda: libc.ptrace(0, 0, 0, 0))
        try:
            def stopped():
                with open("/proc/%d/stat" % child.pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] in ("t", "T")
            wait_for("the child stopped after exec", stopped, timeout=10)
            with open("/proc/%d/maps" % child.pid) as f:
                self.assertNotIn("libc.so", f.read())
            d = self.start("targets:\n  - pid: %d\n" % child.pid)
            d.wait_serving(timeout=30)
            wait_for("the failure counted", lambda: d.scrape().get(
                "gilstat_attach_errors_total", reason="libc_not_loaded") == 1, timeout=30)
            s = d.scrape()
            self.assertEqual(s.get("gilstat_attach_errors_total", reason="no_libc"), 0)
            lines = [l for l in d.output().splitlines() if "pid %d" % child.pid in l]
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("has not mapped libc yet", lines[0])
            self.assertNotIn("statically linked", d.output())
            self.assertEqual(d.stop(), 0)
        finally:
            # Not Popen.kill(): its poll() takes the ptrace stop for an exit and then sends no
            # signal, and the child, detached when this process exits, would sleep on holding
            # the test's output open (ctest waited for it).
            os.kill(child.pid, signal.SIGKILL)
            while True:
                _, status = os.waitpid(child.pid, 0)
                if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                    break
            child.returncode = -signal.SIGKILL


if __name__ == "__main__":
    unittest.main(verbosity=2)
