"""Section 3: the hosted runtime against CPython (gilstat_bench_runtime's table, with rows of
bench/cpython_table.py for each interpreter)."""

import os
import re
import subprocess
from dataclasses import dataclass, field

# The runner's checks that are goals of the report: key -> (prefix of the check, goal).
FAIR_CHECKS = {
    "echo": ("fair keeps", "`fair` policy: convoy echo with one CPU thread ≥ 50% of the alone "
             "rate"),
    "countdown": ("fair countdown", "`fair` policy: countdown within 10% of `switching`"),
}


@dataclass
class RuntimeData:
    steps: int
    table_py_steps: int
    table: str                  # the runner's Markdown, as printed
    fair: dict = field(default_factory=dict)  # FAIR_CHECKS key -> (passed, what was measured)


def fair_checks(table):
    """The runner's PASS/FAIL lines of the `fair` policy: {key: (passed, measured)}."""
    found = {}
    for m in re.finditer(r"^- (PASS|FAIL) (fair .*)$", table, re.M):
        ok, text = m.group(1) == "PASS", m.group(2)
        if text.startswith("fair keeps"):
            found["echo"] = (ok, text.split(":", 1)[-1].strip())
        elif text.startswith("fair countdown"):
            found["countdown"] = (ok, text[len("fair "):])
    return found


def measure(ctx):
    ctx.log("section 3: the runtime against CPython")
    z = ctx.sizes
    rows_path = os.path.join(ctx.tmp, "cpython_rows.md")
    with open(rows_path, "w") as rows:
        for _, py in ctx.pythons():
            ctx.log("  %s" % py)
            r = subprocess.run([py, ctx.cpython_table, str(z.duration), str(z.table_py_steps),
                                str(z.repeat)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
            if r.returncode == 0:
                rows.write(r.stdout)
            else:
                ctx.note("`%s bench/cpython_table.py` failed: %s" % (
                    py, (r.stderr.strip().splitlines() or ["?"])[-1]))
    ctx.log("  gilstat runtime")
    r = subprocess.run([ctx.path("runtime_table"), "--duration=%g" % z.duration,
                        "--steps=%d" % z.steps, "--repeat=%d" % z.repeat,
                        "--extra-rows=" + rows_path], stdout=subprocess.PIPE, text=True)
    return RuntimeData(z.steps, z.table_py_steps, r.stdout, fair_checks(r.stdout))
