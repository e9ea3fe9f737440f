"""Section 2: gilstatd's overhead on real CPython interpreters (bench/cpython_table.py --serve as
one long-lived target), configurations interleaved with measurements without a daemon."""

from dataclasses import dataclass

from .attach import Attached
from .procs import Child
from .sid import command
from .goals import RowSlowdown
from .stats import bracketed_slowdown_rounds, median, rotate

PY2_CONFIGS = ("floor-default", "gilstatd-default", "floor-counting", "gilstatd-counting")
PY3_CONFIGS = ("gilstatd-default",)


def workloads(sizes, steps):
    """(name, serve command, kind): kind "cpu" (CPU seconds, the least of py_repeat runs),
    "latency" (mean round trip, s), "rate" (round trips/s)."""
    return [("countdown %d" % n, "countdown_cpu %d %d %d" % (n, steps, sizes.py_repeat), "cpu")
            for n in (1, 2, 4)] + [
            ("convoy, paced", "paced 1 %g %d" % (sizes.py_pace_ms, sizes.py_paced_n), "latency"),
            ("convoy, unpaced", "echo 1 %g" % sizes.py_echo_s, "rate")]


@dataclass
class InterpreterRun:
    """One interpreter. nones[r] (r = 0..rounds) and per_round[r][config] map a workload to
    (value, p50 or None); the configurations of round r sit between nones[r] and nones[r+1]."""
    version: str
    configs: list
    rounds: int
    workloads: list
    nones: list
    per_round: list
    sites: dict        # configuration -> what gilstatd reported attaching
    period: float      # the paced convoy's period (s), None if not reported

    @property
    def py2(self):
        return self.version.startswith("2.")

    def values(self, config, w):
        if config == "none":
            return [n[w] for n in self.nones]
        return [rr[config][w] for rr in self.per_round]

    def median_value(self, config, w, which=0):
        return median([x[which] for x in self.values(config, w)])

    def slowdown_rounds(self, config, w, kind, which=None):
        """Per round, the slowdown against the mean of the round's two measurements without a
        daemon; of the median round trip for the paced convoy (which=0: of the mean)."""
        if which is None:
            which = 1 if kind == "latency" else 0
        return bracketed_slowdown_rounds([n[w][which] for n in self.nones],
                                         [rr[config][w][which] for rr in self.per_round],
                                         higher_is_better=kind == "rate")

    def slowdown(self, config, w, kind, which=None):
        """The median of slowdown_rounds."""
        return median(self.slowdown_rounds(config, w, kind, which))


@dataclass
class CPythonData:
    runs: list                  # InterpreterRun per interpreter found
    py_rounds: int
    py27_rounds: int
    py_steps: int
    py27_steps: int
    py_paced_n: int
    py_echo_s: float
    py_repeat: int = 1          # countdown runs per measurement (the least kept)

    @property
    def period(self):
        return next((m.period for m in self.runs if m.period), None)

    def py3(self):
        return [m for m in self.runs if not m.py2]

    def py2(self):
        return [m for m in self.runs if m.py2]

    def judged_py3(self):
        """The judged CPython 3 rows (RowSlowdown per interpreter and workload, gilstatd
        default) and (slowdown, version) of the worst unpaced convoy (a race: not judged; None
        when not measured)."""
        rows, worst_unpaced = [], None
        for m in self.py3():
            for w, _, kind in m.workloads:
                if kind == "rate":
                    sd = m.slowdown("gilstatd-default", w, kind)
                    if worst_unpaced is None or sd > worst_unpaced[0]:
                        worst_unpaced = (sd, m.version)
                else:
                    rows.append(RowSlowdown("CPython %s, %s" % (m.version, w), w,
                                            m.slowdown_rounds("gilstatd-default", w, kind)))
        return rows, worst_unpaced

    def py27_countdown2(self):
        """{configuration: slowdown} of the two-thread countdown on CPython 2 (the last one
        measured), or None."""
        out = None
        for m in self.py2():
            out = {c: m.slowdown(c, "countdown 2", "cpu") for c in m.configs}
        return out


def describe_attach(scrape):
    """What gilstatd reports about a process it attached: the metric families with samples."""
    fams = sorted(n for n in scrape.names()
                  if n.startswith("gilstat_") and not n.startswith("gilstat_build"))
    att = scrape.total("gilstat_probes_attached")
    py = [n for n in fams if "python" in n or "pygil" in n]
    return "%d process(es) attached%s" % (att or 0, ("; Python series: " + ", ".join(
        "`%s`" % n for n in py)) if py else "")


def measure(ctx):
    ctx.log("section 2: overhead on CPython")
    z = ctx.sizes
    runs = [measure_python(ctx, py) for _, py in ctx.pythons(py_only=True)]
    return CPythonData(runs, z.py_rounds, z.py27_rounds, z.py_steps, z.py27_steps,
                       z.py_paced_n, z.py_echo_s, z.py_repeat)


def measure_python(ctx, py):
    """One interpreter: every round measures each configuration (rotated order) between two
    measurements with no daemon (the last of a round is the first of the next)."""
    z = ctx.sizes
    target = Child(command(py, ctx.cpython_table, "--serve"), "python", ctx.tmp)
    m = target.expect(r"ready (\d+) (\S+)", 20)
    pid, version = int(m.group(1)), m.group(2)
    py2 = version.startswith("2.")
    run = InterpreterRun(version, list(PY2_CONFIGS if py2 else PY3_CONFIGS),
                         z.py27_rounds if py2 else z.py_rounds,
                         workloads(z, z.py27_steps if py2 else z.py_steps), [], [], {}, None)

    def one(config):
        ctx.log("  CPython %s: %s" % (version, config))
        return measure_config(ctx, target, pid, config, run)

    try:
        for _, cmd, _ in run.workloads:  # warm-up, not recorded: a fresh interpreter is slower
            target.ask(cmd, timeout=300)
        for r in range(run.rounds):
            run.nones.append(one("none"))
            run.per_round.append({c: one(c) for c in rotate(run.configs, r)})
        run.nones.append(one("none"))
    finally:
        target.stop()
    return run


def measure_config(ctx, target, pid, config, run):
    """Every workload once with `config` attached: {workload: (value, p50 or None)}."""
    a = Attached(ctx, config, pid)
    out = {}
    try:
        if a.gilstatd:
            run.sites[config] = describe_attach(a.gilstatd.scrape())
        for w, cmd, kind in run.workloads:
            f = target.ask(cmd, timeout=300).split()
            out[w] = (float(f[0]), float(f[1]) if kind == "latency" else None)
            if kind == "latency":
                run.period = float(f[4])
    finally:
        a.stop()
    return out
