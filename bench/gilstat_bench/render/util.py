"""Section 7's Markdown and goal (data: section_util.UtilData)."""

from ..goals import UTIL_DIFF_MAX, Goal, utilization_within
from ..section_util import DUTY_SCRIPT

INTRO = (
    "## 7. GIL utilization by sampling\n\n"
    "`%s` holds the GIL in a pure-Python busy loop for HOLD ms, then sleeps SLEEP ms, one "
    "thread, for %g s, and measures its own duty cycle (the time outside `time.sleep`). Two "
    "gilstatd watch the same run: the default configuration, whose sampler reads the GIL word "
    "at jittered times ~100 times a second (`gilstat_python_gil_samples_total`: the sampled "
    "utilization is held / all samples, its standard error sqrt(p(1−p)/n)), and the exact "
    "configuration (`probes: {python: exact}`), which times every hold where it probes "
    "`take_gil`/`drop_gil` (method `take_gil`; `gilstat_gil_hold_seconds_sum` over the same "
    "wall time). Both are scraped just before and after the run. Where the exact configuration "
    "has no hold times (stripped builds: `gil_condvar`; 2.7: `interpreter_lock`), the sampled "
    "figure is shown against the program's own measure only. The goal compares the sampled "
    "utilization with the exact method's.\n")


def pct(v):
    return "–" if v is None else "%.1f%%" % (100 * v)


def render(d):
    """(Markdown, goals) of section 7."""
    out = [INTRO % (DUTY_SCRIPT, d.seconds),
           "| CPython | held / asleep | the program's duty | sampled (default) | samples | "
           "held-seconds rate (default) | exact: hold time / wall time | sampled − exact | "
           "methods (default / exact) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in d.rows:
        if r.error:
            out.append("| %s | %d / %d ms | failed: %s | | | | | | |" % (
                r.label, r.hold_ms, r.sleep_ms, r.error.replace("|", "/")))
            continue
        diff = "–" if r.difference is None else "%+.1f%%" % (100 * (r.sampled - r.exact))
        se = "" if not r.samples or r.sampled is None else " ±%.1f%%" % (
            100 * (r.sampled * (1 - r.sampled) / r.samples) ** 0.5)
        out.append("| %s | %d / %d ms | %s | %s%s | %d | %s | %s | %s | `%s` / `%s` |" % (
            r.label, r.hold_ms, r.sleep_ms, pct(r.program), pct(r.sampled), se, r.samples,
            pct(r.held_rate), pct(r.exact), diff, r.method_default, r.method_exact))
    out.append("")
    diffs = [r.difference for r in d.rows if not r.error]
    judged = [r for r in d.rows if r.difference is not None]
    if judged:
        worst = max(judged, key=lambda r: r.difference)
        n = len({r.label for r in judged})
        measured = ("largest difference, sampled against exact, %.1f%% (CPython %s, %d/%d ms: "
                    "sampled %s, exact %s) over %d runs on %d interpreter%s with `take_gil`" % (
                        100 * worst.difference, worst.label, worst.hold_ms, worst.sleep_ms,
                        pct(worst.sampled), pct(worst.exact), len(judged), n,
                        "" if n == 1 else "s"))
    else:
        measured = "no run with the exact method's hold times"
    vs_program = [abs(r.sampled - r.program) for r in d.rows
                  if not r.error and r.sampled is not None and r.program is not None]
    if vs_program:
        measured += "; sampled vs the program's own duty, every interpreter: largest %.1f%%" % (
            100 * max(vs_program))
    goal = Goal(utilization_within(diffs),
                "GIL utilization in the default configuration within %d%% (absolute) of the "
                "exact method" % round(100 * UTIL_DIFF_MAX), measured)
    return "\n".join(out), [goal]
