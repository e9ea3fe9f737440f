"""Section 7: GIL utilization by sampling (the default configuration) against the exact method.

tests/testprogs/pygil_duty.py holds the GIL in a busy loop for HOLD ms, then sleeps SLEEP ms,
one thread, for UTIL_S seconds, and measures its own duty cycle. Two gilstatd watch it at once,
the same run: one in the default configuration, whose sampler reads the GIL word ~100 times a
second (gilstat_python_gil_samples_total{state="held"|"free"}), and one in the exact
configuration (`probes: {python: exact}`), which times every hold where it probes take_gil and
drop_gil (gilstat_gil_hold_seconds_sum). Both are scraped before and after the run; the sampled
utilization is held / all samples, the exact one the hold time over the same wall time. Where
the exact configuration cannot time holds (stripped builds, 2.7's semaphore GIL) the sampled
figure is shown against the program's own measure only."""

import os
import time
from dataclasses import dataclass, field

from .context import ROOT
from .procs import Child, Gilstatd
from .section_io import EXACT_PROBES, interpreters, python_info, target_config
from .sid import command

# (hold ms, sleep ms): ~30% and ~80% busy.
DUTIES = ((3, 7), (8, 2))
DUTY_SCRIPT = "tests/testprogs/pygil_duty.py"


@dataclass
class UtilRow:
    label: str
    path: str
    hold_ms: int
    sleep_ms: int
    program: float = None    # the program's own duty cycle (time outside time.sleep)
    sampled: float = None    # held samples / all samples (default configuration)
    samples: int = 0
    held_rate: float = None  # gilstat_python_gil_held_seconds_total over the wall time
    exact: float = None      # exact configuration's hold time over the wall time (take_gil)
    method_default: str = "?"
    method_exact: str = "?"
    wall_s: float = 0
    error: str = ""

    @property
    def difference(self):
        """|sampled − exact| (absolute), None where either is missing."""
        if self.sampled is None or self.exact is None:
            return None
        return abs(self.sampled - self.exact)


@dataclass
class UtilData:
    seconds: float
    rows: list = field(default_factory=list)


def measure(ctx):
    ctx.log("section 7: GIL utilization, sampled against the exact method")
    data = UtilData(ctx.sizes.util_s)
    script = os.path.join(ROOT, DUTY_SCRIPT)
    for label, py in interpreters(ctx):
        for hold, sleep in DUTIES:
            row = UtilRow(label, py, hold, sleep)
            try:
                measure_row(ctx, row, script)
            except Exception as e:  # one interpreter failing does not end the section
                row.error = str(e)[-300:]
                ctx.note("Section 7, CPython %s, %d/%d ms: %s" % (label, hold, sleep, e))
            data.rows.append(row)
    return data


def measure_row(ctx, row, script):
    ctx.log("  CPython %s: %d ms held, %d ms asleep" % (row.label, row.hold_ms, row.sleep_ms))
    target = Child(command(row.path, script, row.hold_ms, row.sleep_ms, ctx.sizes.util_s),
                   "duty", ctx.tmp)
    daemons = []
    try:
        target.expect(r"ready$", 30)
        pid = target.p.pid
        default = Gilstatd(ctx.path("gilstatd"), ctx.tmp, target_config(pid, ""),
                           name="gilstatd-util-default")
        daemons.append(default)
        exact = Gilstatd(ctx.path("gilstatd"), ctx.tmp, target_config(pid, EXACT_PROBES),
                         name="gilstatd-util-exact")
        daemons.append(exact)
        for gd in daemons:
            gd.wait_attached(1)
        # Both GIL probes attached (their method known) and the sampler's first samples.
        deadline = time.monotonic() + 10
        while not (python_info(default.scrape()) and python_info(exact.scrape()) and
                   default.scrape().total("gilstat_python_gil_samples_total") is not None):
            if time.monotonic() > deadline:
                raise RuntimeError("no GIL method or no GIL samples within 10 s")
            time.sleep(0.1)
        row.method_default = python_info(default.scrape()).get("method", "?")
        row.method_exact = python_info(exact.scrape()).get("method", "?")
        b_default, b_exact, t0 = default.scrape(), exact.scrape(), time.monotonic()
        target.send("go")
        out = {}
        while True:
            line = target.expect(r"(\S+)(?: (\S+))?$", ctx.sizes.util_s + 60)
            if line.group(1) == "done":
                break
            out[line.group(1)] = float(line.group(2))
        a_default, a_exact, t1 = default.scrape(), exact.scrape(), time.monotonic()
    finally:
        for gd in daemons:
            gd.stop(timeout=60)
            gd.close()
        target.stop()
    row.wall_s = t1 - t0
    row.program = out.get("duty_held")
    held = delta(a_default, b_default, "gilstat_python_gil_samples_total", state="held")
    free = delta(a_default, b_default, "gilstat_python_gil_samples_total", state="free")
    if held is not None and free is not None and held + free > 0:
        row.samples = int(held + free)
        row.sampled = held / (held + free)
    secs = delta(a_default, b_default, "gilstat_python_gil_held_seconds_total")
    row.held_rate = None if secs is None else secs / row.wall_s
    if row.method_exact == "take_gil":
        hold = delta(a_exact, b_exact, "gilstat_gil_hold_seconds_sum", lock="gil",
                     source="ebpf")
        row.exact = None if hold is None else hold / row.wall_s


def delta(after, before, name, **labels):
    a = after.total(name, **labels)
    if a is None:
        return None
    return a - (before.total(name, **labels) or 0)
