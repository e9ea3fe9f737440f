"""Process control: gilstatd on a free port, child processes speaking a line protocol, waiting
for a condition, and what /proc says about a process."""

import os
import queue
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from . import exposition

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=30.0, interval=0.2):
    """The first true result of fn(), polled until `timeout`; exceptions count as not yet.
    Raises AssertionError naming `what` and the last result."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s: last result %r" % (what, last))


def unique_path(directory, name, ext):
    """A new empty file in `directory` named after `name`, ending in `ext`, readable by
    everyone (a gilstatd run as another user reads its configuration)."""
    fd, path = tempfile.mkstemp(suffix=ext, prefix=name + ".", dir=directory)
    os.fchmod(fd, 0o644)
    os.close(fd)
    return path


class Child:
    """A child process whose stdout lines go to a queue (read by a thread); stderr to a file."""

    def __init__(self, argv, name, workdir, stdin=True):
        self.name = name
        self.err_path = unique_path(workdir, name, ".err")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def expect(self, pattern, timeout):
        """The match of the first line matching `pattern` (a regex), or RuntimeError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("%s: no line matching %r within %g s; stderr: %s"
                                   % (self.name, pattern, timeout, self.stderr_tail()))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("%s exited (status %s) before printing %r; stderr: %s"
                                   % (self.name, self.p.wait(), pattern, self.stderr_tail()))
            m = re.match(pattern, line)
            if m:
                return m

    def ask(self, line, timeout=120):
        """Sends a command line and returns the answer line (not one starting with "error")."""
        self.send(line)
        return self.expect(r"(?!error)(.*)$", timeout).group(1)

    def stderr_tail(self):
        self.err.flush()
        try:
            with open(self.err_path) as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            return ""

    def close_stdin(self):
        try:
            self.p.stdin.close()
        except (OSError, ValueError, AttributeError):
            pass

    def stop(self, sig=None, timeout=60):
        """Ends the child (closing stdin, or sending `sig`) and waits for it to be gone; kills
        it after `timeout`."""
        if self.p.poll() is None:
            try:
                if sig is None:
                    self.p.stdin.close()
                else:
                    self.p.send_signal(sig)
            except (OSError, ValueError):
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


def gilstatd_config(targets, mode, extra=""):
    """A configuration with the runtime off: `targets` (YAML flow items) in probe `mode`."""
    return ("targets:\n%s\nruntime:\n  enabled: false\nprobes:\n  mode: %s\n%s"
            % ("\n".join("  - " + t for t in targets), mode, extra))


class Gilstatd:
    """gilstatd with a configuration written to `workdir`, listening on 127.0.0.1 (a free port
    unless `port`), its stdout and stderr in one log file. `env` adds to the environment,
    `extra` to the arguments; `wrapper` is a command line put before the binary."""

    def __init__(self, binary, workdir, config_text, port=None, name="gilstatd", env=None,
                 extra=(), wrapper=()):
        self.port = port or free_port()
        self.config = unique_path(workdir, name, ".yml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.log_path = unique_path(workdir, name, ".log")
        self.log = open(self.log_path, "w+")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [*wrapper, binary, "--web.listen-address=127.0.0.1:%d" % self.port,
             "--config.file=" + self.config, *extra],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path="/metrics"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def metrics(self, timeout=10):
        """The text of one scrape."""
        return exposition.scrape(self.port, timeout)

    def scrape(self, timeout=10):
        """One scrape, parsed."""
        return exposition.Exposition(self.metrics(timeout))

    def output(self):
        """Everything it logged so far."""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def output_tail(self, lines=3):
        return " | ".join(self.output().strip().splitlines()[-lines:])

    def reconfigure(self, config_text):
        """Writes a new configuration and sends SIGHUP."""
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc.send_signal(signal.SIGHUP)

    def wait_serving(self, timeout=20):
        """Waits until /metrics answers; returns the scrape."""
        return wait_for("gilstatd serving", lambda: self._alive_scrape(), timeout, 0.05)

    def _alive_scrape(self):
        if self.proc.poll() is not None:
            raise RuntimeError("gilstatd exited (status %s): %s"
                               % (self.proc.returncode, self.output_tail()))
        return self.scrape()

    def wait_attached(self, n, timeout=60):
        """Waits until gilstat_probes_attached is at least `n`; returns that scrape. Raises
        RuntimeError when gilstatd exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gilstatd exited: " + self.output_tail())
            try:
                s = self.scrape()
                last = s.total("gilstat_probes_attached")
                if last is not None and last >= n:
                    return s
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gilstatd: %s of %d processes attached after %g s; log: %s"
                           % (last, n, timeout, self.output_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Sends `sig` (unless it has exited) and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def close(self):
        """Kills it if it still runs, and closes its log."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def proc_cpu_seconds(pid):
    """User + system CPU seconds of process `pid`."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_bytes(pid, key):
    """A memory figure of /proc/PID/status (VmRSS, VmHWM...) in bytes, or None."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def bpf_link_fds(pid):
    """How many BPF link fds `pid` holds (one per perf-event uprobe, one per uprobe_multi set,
    one per tracepoint); 0 once it is gone."""
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:bpf_link":
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def libc_of(pid):
    """The path of the libc process `pid` maps executable."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and "x" in parts[1] and re.search(r"/libc[.-][^/]*so", parts[5]):
                return parts[5]
    raise RuntimeError("pid %d maps no libc" % pid)
