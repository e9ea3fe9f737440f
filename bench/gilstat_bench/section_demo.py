"""gilstatd on its embedded default (what scripts/run.sh shows a first-time user: the hosted
runtime on the paced convoy, watching itself): its average CPU over DEMO_S seconds, and whether
the hosted GIL was contended, handed off and switched in every 1 s window. Part of section 4."""

import subprocess
import time
from dataclasses import dataclass, field

from . import exposition
from .procs import free_port, proc_cpu_seconds, wait_for

# The runtime's series of the hosted GIL, summed over their other labels.
GROWING = (("gilstat_lock_contended_total", {"lock": "gil", "source": "runtime"}),
           ("gilstat_lock_handoffs_total", {"lock": "gil", "source": "runtime"}),
           ("gilstat_gil_switches_total", {"source": "runtime"}))


@dataclass
class DemoData:
    seconds: float
    cpus: float = None
    windows: list = field(default_factory=list)  # per 1 s window: {metric: increase}

    @property
    def every_window_grows(self):
        return bool(self.windows) and all(all(v and v > 0 for v in w.values())
                                          for w in self.windows)


def totals(port):
    e = exposition.Exposition(exposition.scrape(port, 10))
    return {name: e.total(name, **labels) for name, labels in GROWING}


def measure(ctx):
    """Starts gilstatd with no configuration file, samples it, stops it."""
    ctx.log("  gilstatd on its embedded default, %g s" % ctx.sizes.demo_s)
    port = free_port()
    log = open(ctx.tmp + "/demo.log", "w")
    proc = subprocess.Popen([ctx.path("gilstatd"), "--web.listen-address=127.0.0.1:%d" % port],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    data = DemoData(ctx.sizes.demo_s)
    try:
        wait_for("the runtime's GIL series", lambda: all(totals(port).values()), 30)
        time.sleep(1)  # past the start-up
        prev = totals(port)
        cpu0, t0 = proc_cpu_seconds(proc.pid), time.monotonic()
        for _ in range(max(1, int(data.seconds))):
            time.sleep(1)
            now = totals(port)
            data.windows.append({k: (now[k] or 0) - (prev[k] or 0) for k in now})
            prev = now
        data.cpus = (proc_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return data
