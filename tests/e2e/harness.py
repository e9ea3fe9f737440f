"""What the end-to-end tests share: gilstatd, free ports, waiting and exposition parsing come
from the benchmark's harness (bench/gilstat_bench); a real Prometheus server, a systemd-like
notify socket, the BPF checks and the Python lock-contention target are here.

Paths come from the environment: GILSTATD (the binary), PYTHON_TARGET (python3), PROMETHEUS,
PROMTOOL.
"""
import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

from gilstat_bench import procs  # noqa: E402
from gilstat_bench.exposition import http_get  # noqa: E402
from gilstat_bench.procs import free_port, wait_for  # noqa: E402

GILSTATD = os.environ.get("GILSTATD", "gilstatd")
PYTHON = os.environ.get("PYTHON_TARGET", "/usr/bin/python3")
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")
# The comm of a process started as PYTHON: its "process" label under labels {process: "{comm}"}.
PYTHON_COMM = os.path.basename(PYTHON)[:15]


def bpf_unavailable():
    if os.geteuid() != 0:
        return "not root: the probes need root (or CAP_BPF+CAP_PERFMON)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "no BTF at /sys/kernel/btf/vmlinux"
    return None


def start_gilstatd(workdir, config_text, **kw):
    """gilstatd (GILSTATD unless binary=...) with `config_text`; see procs.Gilstatd."""
    return procs.Gilstatd(kw.pop("binary", GILSTATD), workdir, config_text, **kw)


class NotifySocket:
    """A NOTIFY_SOCKET like systemd's for a Type=notify unit."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def env(self):
        """The environment of a service with WatchdogSec=2s."""
        return {"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": "2000000"}

    def drain(self):
        """Every message received so far."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def close(self):
        self.sock.close()


class ContentionTarget:
    """A python3 process whose threads contend for one threading.Lock (lock_contention.py)."""

    def __init__(self, threads=4):
        self.proc = subprocess.Popen([PYTHON, os.path.join(HERE, "lock_contention.py"),
                                      str(threads)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise AssertionError("lock_contention.py: expected 'ready', got %r" % line)

    @property
    def pid(self):
        return self.proc.pid

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Prometheus:
    """A Prometheus server (Debian's package) on a free port scraping one target every second,
    temporary storage in `workdir`."""

    def __init__(self, workdir, target_port):
        self.port = free_port()
        self.config = os.path.join(workdir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gilstat
    static_configs:
      - targets: ['127.0.0.1:{target_port}']
""")
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("prometheus ready", lambda: self.get("/-/ready")[0] == 200)

    def get(self, path):
        return http_get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def query(self, promql):
        from urllib.parse import urlencode
        _, body = self.get("/api/v1/query?" + urlencode({"query": promql}))
        data = json.loads(body)
        if data["status"] != "success":
            raise AssertionError(f"query {promql} failed: {body}")
        return data["data"]["result"]

    def value(self, promql):
        """The single value of an instant query, or None when it returns nothing."""
        r = self.query(promql)
        if not r:
            return None
        if len(r) != 1:
            raise AssertionError(f"{promql}: expected one series, got {r}")
        return float(r[0]["value"][1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()


def bpftool_json(*args):
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"bpftool {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout or "[]")


def perf_attachments_of(pid):
    """uprobes and tracepoints with BPF programs that process `pid` holds open."""
    return [p for p in bpftool_json("perf", "show") if p.get("pid") == pid]


def _fdinfos(pid):
    d = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                yield dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue


def program_ids_held_by(pid):
    """IDs of the BPF programs whose fds process `pid` holds (its /proc/PID/fdinfo): exactly
    the programs that daemon loaded, whatever else runs on the machine."""
    return {int(info["prog_id"]) for info in _fdinfos(pid) if "prog_id" in info}


def links_held_by(pid):
    """The BPF links whose fds process `pid` holds: {link id: (link type, program id)}."""
    return {int(info["link_id"]): (info.get("link_type", "?"), int(info.get("prog_id", 0)))
            for info in _fdinfos(pid) if "link_id" in info}


def loaded_link_ids():
    return {link["id"] for link in bpftool_json("link", "show")}


def loaded_program_ids():
    return {p["id"] for p in bpftool_json("prog", "show")}
