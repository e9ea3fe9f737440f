#!/usr/bin/env python3
"""Measures everything docs/BENCHMARKS.md reports, side by side in one run, and writes it.

Called by bench/run.sh (which builds first); run as root. Sections:

1. cost per semaphore operation (micro-loops in gilstat_bench_semloop) with nothing attached,
   the empty programs at the probe's sites (the floor, gilstat_bench_floor) and gilstatd in each
   probe mode (default, counting, exact), and the bpftrace one-liner; added times within the
   noise are reported as such, and no ratio is taken of them;
2. overhead of gilstatd on real CPython interpreters (bench/cpython_table.py --serve):
   countdowns in CPU time, a paced convoy (round-trip latency), the unpaced convoy (a rate, for
   information); CPython 2.7 in default and counting mode with their floors;
3. the hosted runtime against CPython (gilstat_bench_runtime, the table of REFERENCE section 3);
4. the daemon's footprint with 100 target processes (default mode), a sustained load counted
   by a second gilstatd in counting mode, the time gilstatd takes to stop, and gilstatd's CPU
   on its embedded default (the demo of scripts/run.sh);
5. I/O-bound services on every CPython (bench/io_server.py): a single-thread TCP echo server
   and a threaded HTTP server under ab, without gilstatd, in the default and the exact
   configuration;
6. host-wide costs: what a process gilstatd does not watch pays per syscall, per futex call
   and per fork+exec+exit while gilstatd runs;
7. GIL utilization by sampling (the default configuration) against the exact method's hold
   time, on a workload of known duty cycle (tests/testprogs/pygil_duty.py), every CPython.

Configurations are interleaved: every round attaches each tool in turn to the same long-lived
target process and measures it, the order rotating from round to round; a figure is the median
over rounds, a ratio the median of the per-round ratios. Sizes come from the environment (see
bench/run.sh and gilstat_bench/context.py); OUT=path writes the report somewhere else than
docs/BENCHMARKS.md. Only the Python standard library is used. The measured data is kept beside
the report (OUT + ".data", a pickle); RENDER_ONLY=1 writes the report again from that file
without measuring (after a change of the rendering).

The code is the package gilstat_bench beside this file: one section_* module per section
measures and returns data, render/ turns the data into Markdown and goals.
"""

import os
import pickle
import sys
import time
import traceback
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gilstat_bench import (goals, section_cost, section_cpython, section_footprint,  # noqa: E402
                           section_host, section_io, section_runtime, section_util)
from gilstat_bench.context import Context, Sizes, loadavg  # noqa: E402
from gilstat_bench.render.report import render  # noqa: E402

MEASURE = {"1": section_cost.measure, "2": section_cpython.measure,
           "3": section_runtime.measure, "4": section_footprint.measure,
           "5": section_io.measure, "6": section_host.measure,
           "7": section_util.measure}


@dataclass
class Run:
    started: float
    minutes: float
    load_before: list
    load_after: list
    sizes: Sizes


def measure_all(ctx):
    """{section: its data, or the exception it failed with}; a failed section is noted and
    the others still run."""
    data = {}
    for s in ("1", "2", "3", "4", "5", "6", "7"):
        if s not in ctx.sections:
            continue
        try:
            data[s] = MEASURE[s](ctx)
        except Exception as e:  # the report says what failed and goes on
            ctx.log("section %s failed: %s\n%s" % (s, e, traceback.format_exc()))
            data[s] = e
            ctx.note("Section %s failed: %s" % (s, e))
    return data


def write_report(ctx, run, data):
    text, all_goals = render(run, data, ctx.notes)
    with open(ctx.out, "w") as f:
        f.write(text)
    ctx.log("wrote %s" % ctx.out)
    sys.stdout.write(text)
    return goals.all_met(all_goals)


def main():
    ctx = Context.from_env(os.environ)
    if os.environ.get("RENDER_ONLY"):
        with open(ctx.out + ".data", "rb") as f:
            run, data, ctx.notes = pickle.load(f)
        ctx.close()
        return write_report(ctx, run, data)
    if os.geteuid() != 0 and any(s in ctx.sections for s in ("1", "2", "4", "5", "6")):
        ctx.close()
        sys.exit("bench/report.py: sections 1, 2, 4, 5 and 6 attach BPF programs: run as root")
    load_before = loadavg()
    started = time.time()
    try:
        data = measure_all(ctx)
    finally:
        ctx.close()
    footprint = data.get("4")
    load_after = getattr(footprint, "load_after", None) or loadavg()
    run = Run(started, (time.time() - started) / 60, load_before, load_after, ctx.sizes)
    try:
        with open(ctx.out + ".data", "wb") as f:
            pickle.dump((run, data, ctx.notes), f)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as e:
        ctx.log("the measured data cannot be kept (%s): RENDER_ONLY will not work" % e)
    return write_report(ctx, run, data)


if __name__ == "__main__":
    sys.exit(main())
