"""Section 2's Markdown and goals (data: section_cpython.CPythonData)."""

from .. import fmt, goals
from ..attach import config_label
from ..goals import Goal
from .judging import judging_note

INTRO = (
    "Each interpreter (pyenv's 2.7, 3.12 and 3.13, Debian's python3, and Debian sid's 3.14 "
    "and 3.15, run in a chroot of scripts/sid_root.sh's root) runs `bench/cpython_table.py "
    "--serve` as one long-lived process; "
    "gilstatd (`runtime: {enabled: false}`, target `pid`: whatever the daemon attaches to "
    "a Python process is measured) is started and stopped around it. After one unrecorded "
    "warm-up pass, every round measures each configuration, in an order rotated from round "
    "to round, between two measurements with no daemon (the last of a round is the first "
    "of the next): a slowdown is against the mean of its round's two measurements without "
    "(which cancels a steady drift of the machine's speed). A slowdown shown is the median "
    "of the per-round slowdowns (%d rounds for CPython 3, %d for 2.7), a value the median "
    "of its measurements.\n")

WORKLOADS = (
    "- **countdown N**: `while n > 0: n -= 1` over %s iterations (%s for CPython 2.7) split "
    "over N threads, in CPU seconds of the interpreter process (user + system: what the "
    "probes cost is charged to its threads, the time other processes hold the CPUs is not), "
    "the least of %d back-to-back runs (one run alone varied by 10-20%% from round to "
    "round on this shared machine; what gilstatd adds is in every run, the noise is not). "
    "A single thread has no GIL switch to probe, so its row shows the noise of the method.\n"
    "- **convoy, paced**: one CPU-bound thread runs while a client in another process "
    "(forked, outside the interpreter's GIL) sends a 1-byte request every %s, %d times "
    "(after one unrecorded), and times each round trip; the cell is the mean round trip "
    "(p50 in brackets), the slowdown that of the median round trip (of the mean in "
    "brackets: one scheduling delay of tens of ms among the round trips moves the mean by "
    "several per cent). In CPython 3 the server thread finds the CPU thread holding the "
    "GIL and waits one switch interval for it, answers, then waits one more to get the "
    "GIL back after `send`; the period is 2.5 switch intervals (CPython 2.7: 12.5 ms) so "
    "that it is back in `recv` before the next request (at 2 intervals the next request "
    "would arrive just as it gets there, and round trips alternate between ~5 and ~0.3 ms "
    "— a race again). Whatever the probes add to a GIL handoff, to the wake-up or to the "
    "socket calls adds to the round trip.\n"
    "- **convoy, unpaced (rate of a wake-up race)**: the same client sending its next "
    "request as soon as the answer arrives, for %.2f s; round trips/s. Not a measure of "
    "probe cost: in CPython 3 the rate would be one round trip per switch interval (200/s) "
    "if the I/O thread always waited for the forced switch, and it is above that because "
    "the I/O thread sometimes wins a race against the CPU thread's wake-up and takes the "
    "GIL at once; a few µs on either path (a probe, a scheduler decision) shift how often "
    "it wins, and previous runs saw the rate bimodal (about 200/s in some runs, thousands "
    "in others, on the same interpreter). Shown for information only.\n")

PY27 = (
    "CPython %s: its GIL is a semaphore (`sem_wait`/`sem_post` at every release and "
    "acquisition, every 100 ticks), so the semaphore probe's modes differ here: in "
    "default mode only the contended acquisitions (the waiter's slow path) and the "
    "futex calls are probed, in counting mode every GIL operation is. The floors are "
    "the empty programs at each mode's sites. Each cell: the value and, in brackets, "
    "the slowdown.\n")

PY3_GOAL = "CPython 3 countdown and convoy slowed by ≤ 3% with gilstatd (paced convoy)"
PY27_GOAL = "CPython 2.7 two-thread countdown slowed by ≤ 25% (default mode)"


def slowdown_text(m, config, w, kind, inner=False):
    sd = fmt.pct(m.slowdown(config, w, kind))
    if kind == "latency":
        sd += ("; mean %s" if inner else " (mean %s)") % fmt.pct(m.slowdown(config, w, kind, 0))
    return sd


def value_cell(m, config, w, kind):
    v = m.median_value(config, w)
    if kind == "cpu":
        return "%.3f s CPU" % v
    if kind == "latency":
        p50 = m.median_value(config, w, 1)
        if v < 1e-3:
            return "%.0f µs (p50 %.0f)" % (1e6 * v, 1e6 * p50)
        return "%.2f ms (p50 %.2f)" % (1e3 * v, 1e3 * p50)
    return "{:,.0f}/s".format(v)


def py3_table(runs):
    lines = ["CPython 3, gilstatd in default mode:\n",
             "| CPython | workload | without | with gilstatd | slowdown |",
             "|---|---|---:|---:|---:|"]
    for m in runs:
        for w, _, kind in m.workloads:
            lines.append("| %s | %s | %s | %s | %s |" % (
                m.version, w, value_cell(m, "none", w, kind),
                value_cell(m, "gilstatd-default", w, kind),
                slowdown_text(m, "gilstatd-default", w, kind)))
    lines.append("")
    return lines


def py2_table(m):
    lines = [PY27 % m.version,
             "| workload | without | " + " | ".join(config_label(c) for c in m.configs) + " |",
             "|---|---:|" + "---:|" * len(m.configs)]
    for w, _, kind in m.workloads:
        cells = [value_cell(m, "none", w, kind)]
        cells += ["%s (%s)" % (value_cell(m, c, w, kind), slowdown_text(m, c, w, kind, True))
                  for c in m.configs]
        lines.append("| %s | %s |" % (w, " | ".join(cells)))
    lines.append("")
    return lines


def render(d):
    """(Markdown, goals) of section 2."""
    period = d.period
    lines = ["## 2. Overhead on CPython\n", INTRO % (d.py_rounds, d.py27_rounds),
             WORKLOADS % ("{:,}".format(d.py_steps), "{:,}".format(d.py27_steps), d.py_repeat,
                          ("%g ms" % (1e3 * period)) if period else "P", d.py_paced_n,
                          d.py_echo_s)]
    if d.py3():
        lines.append(judging_note(goals.CPYTHON3_SLOWDOWN_MAX, d.py_rounds))
        lines += py3_table(d.py3())
    for m in d.py2():
        lines += py2_table(m)
    for m in d.runs:
        for c in m.configs:
            if m.sites.get(c):
                lines.append("- CPython %s with %s: %s" % (m.version, config_label(c),
                                                          m.sites[c]))
    lines.append("")
    return "\n".join(lines), [py3_goal(d), py27_goal(d)]


def py3_goal(d):
    rows, unpaced = d.judged_py3()
    j = goals.slowdowns_within(rows, goals.CPYTHON3_SLOWDOWN_MAX)
    if j.ok is None:
        return Goal(None, PY3_GOAL, "no CPython 3")
    return Goal(j.ok, PY3_GOAL, "%s%s" % (
        j.describe("%d interpreters" % len(d.py3())),
        ("; unpaced convoy, not judged (a race, see section 2): worst %s (CPython %s)"
         % (fmt.pct(unpaced[0]), unpaced[1])) if unpaced else ""))


def py27_goal(d):
    py27 = d.py27_countdown2()
    if not py27 or py27.get("gilstatd-default") is None:
        return Goal(None, PY27_GOAL, "CPython 2.7 not installed")
    return Goal(goals.cpython27_within(py27["gilstatd-default"]), PY27_GOAL,
                "%s (floor: empty programs at the same sites %s); counting mode, for "
                "information: %s (floor %s)" % (
                    fmt.pct(py27.get("gilstatd-default")), fmt.pct(py27.get("floor-default")),
                    fmt.pct(py27.get("gilstatd-counting")), fmt.pct(py27.get("floor-counting"))))


def py3_noise(d):
    """The single-thread countdown's slowdown per CPython 3 (no GIL switch: the noise)."""
    return ", ".join("%s %s" % (m.version, fmt.pct(m.slowdown("gilstatd-default", "countdown 1",
                                                              "cpu")))
                     for m in d.py3())
