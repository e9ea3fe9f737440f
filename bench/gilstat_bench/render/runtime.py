"""Section 3's Markdown and goals (data: section_runtime.RuntimeData)."""

from ..goals import Goal
from ..section_runtime import FAIR_CHECKS

INTRO = (
    "## 3. The runtime against CPython\n\n"
    "The table of REFERENCE §3 reproduced and extended: the hosted runtime's workloads "
    "(`echo`, `convoy`, `countdown`; docs/RUNTIME.md) under each policy on a fresh runtime "
    "per measurement with default settings (check interval 100 ticks, switch interval 5 ms), "
    "and the same workloads in CPython (`bench/cpython_table.py`, its echo client in a "
    "forked process, outside the interpreter's GIL). A gilstat countdown step is two ticking "
    "instructions (MIX + DJNZ), %s steps in all; the CPython rows count `while n > 0: n -= 1` "
    "over %s iterations.\n\n")


def render(d):
    """(Markdown, goals) of section 3: the runner's table as printed, its `fair` checks as
    goals (a miss when the runner printed none)."""
    out = []
    for key, (_, what) in FAIR_CHECKS.items():
        ok, measured = d.fair.get(key, (False, "not measured (gilstat_bench_runtime failed)"))
        out.append(Goal(ok, what, measured))
    text = INTRO % ("{:,}".format(d.steps), "{:,}".format(d.table_py_steps)) + d.table.replace(
        "### Expected shape", "### Expected shape (checks of the runner; the `fair` ones are "
        "goals of the report)")
    return text, out
