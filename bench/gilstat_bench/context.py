"""What a benchmark run is given (sizes, paths, sections) and what it collects on the way
(notes for the report, cleanups), passed to every section."""

import glob
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields

from .sid import sid_pythons, why_absent as sid_why_absent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The interpreters of sections 2 and 3: (label, glob pattern; the last match is used).
PYTHONS = (
    ("2.7", "/root/.pyenv/versions/2.7.18/bin/python"),
    ("3 (Debian)", "/usr/bin/python3"),
    ("3.12", "/root/.pyenv/versions/3.12*/bin/python"),
    ("3.13", "/root/.pyenv/versions/3.13*/bin/python"),
)


@dataclass(frozen=True)
class Sizes:
    """The sizes of a run; each one is read from the environment variable of its upper-case
    name (bench/run.sh lists them)."""
    rounds: int = 3              # rounds of the interleaved section 1
    samples: int = 3             # samples per configuration and round (median), section 1
    sample_s: float = 0.25       # one micro-loop sample (section 1)
    py_rounds: int = 7           # rounds of the interleaved section 2 (CPython 3)
    py27_rounds: int = 7         # rounds of section 2 for CPython 2.7 (4 configurations)
    py_steps: int = 16000000     # countdown iterations (section 2, CPython 3; ~0.4 s)
    py_repeat: int = 3           # countdown runs per measurement, the least CPU time kept
                                 # (section 2: one run alone varied by ±10-20% between rounds)
    py27_steps: int = 10000000   # countdown iterations, CPython 2.7 (section 2)
    py_pace_ms: float = 0        # paced convoy period (0: 2.5 x the switch interval)
    py_paced_n: int = 60         # paced convoy requests
    py_echo_s: float = 0.3       # unpaced convoy duration (section 2)
    duration: float = 0.5        # section 3 (gilstat_bench_runtime --duration)
    steps: int = 50000000        # section 3
    table_py_steps: int = 20000000  # section 3, CPython rows
    repeat: int = 3              # section 3
    targets: int = 100           # section 4
    scrapes: int = 100           # section 4
    load_events: float = 1e6     # section 4: lock events/s wanted
    load_s: float = 5            # section 4
    idle_s: float = 10           # section 4
    stop_cap_s: float = 60       # section 4: longest wait for gilstatd to stop
    demo_s: float = 5            # section 4: the embedded default's CPU, sampled this long
    io_rounds: int = 6           # section 5: interleaved rounds per interpreter (5: the
                                 # fewest a sign test can judge one row by, see goals.py)
    io_s: float = 1.0            # section 5: one echo measurement
    io_http_s: int = 1           # section 5: one HTTP measurement (ab: whole seconds)
    io_settle_s: float = 0.3     # section 5: wait after gilstatd attached
    io_http_max: int = 20000     # section 5: most requests of one ab run
    host_rounds: int = 5         # rounds of the interleaved section 6
    host_samples: int = 9        # samples per configuration and round (median), section 6
    host_sample_s: float = 0.05  # one syscall loop sample (section 6)
    host_spawns: int = 100       # processes spawned per sample (section 6)
    util_s: float = 4            # section 7: one duty-cycle run

    @classmethod
    def from_env(cls, env):
        values = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is not None:
                values[f.name] = int(float(raw)) if f.type is int else float(raw)
        return cls(**values)

    def items(self):
        """(VARIABLE, value) in the order of the Reproduce line."""
        return [(f.name.upper(), getattr(self, f.name)) for f in fields(self)]


@dataclass
class Context:
    sizes: Sizes
    build: str                  # the build directory
    out: str                    # where the report goes
    sections: list              # "1".."7"
    py_only: list = None        # sections 2, 5 and 7: these interpreter labels only
    tmp: str = None             # a temporary directory for configurations and logs
    notes: list = field(default_factory=list)     # remarks printed at the end of the report
    cleanups: list = field(default_factory=list)  # callables run at the end
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def from_env(cls, env):
        build = env.get("BUILD_DIR", "build/bench")
        if not os.path.isabs(build):
            build = os.path.join(ROOT, build)
        only = env.get("PY_ONLY")
        return cls(sizes=Sizes.from_env(env), build=build,
                   out=os.path.join(ROOT, env.get("OUT", "docs/BENCHMARKS.md")),
                   sections=env.get("SECTIONS", "1,2,3,4,5,6,7").split(","),
                   py_only=only.split(",") if only else None,
                   tmp=tempfile.mkdtemp(prefix="gilstat-bench-"))

    def path(self, name):
        """A built program, by name."""
        return os.path.join(self.build, {
            "gilstatd": "daemon/app/gilstatd",
            "semloop": "bench/gilstat_bench_semloop",
            "floor": "bench/gilstat_bench_floor",
            "hostcost": "bench/gilstat_bench_hostcost",
            "runtime_table": "bench/gilstat_bench_runtime",
        }[name])

    @property
    def io_server(self):
        return os.path.join(ROOT, "bench/io_server.py")

    @property
    def cpython_table(self):
        return os.path.join(ROOT, "bench/cpython_table.py")

    def log(self, msg):
        sys.stderr.write("bench [%4.0f s]: %s\n" % (time.monotonic() - self.started, msg))
        sys.stderr.flush()

    def note(self, text):
        self.notes.append(text)

    def close(self):
        """Runs the cleanups and removes the temporary directory."""
        for c in self.cleanups:
            c()
        self.cleanups.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pythons(self, py_only=False):
        """[(label, path)] of the installed interpreters (a note for each one missing when
        `py_only`: the interpreters of section 2, restricted by PY_ONLY, with the sid root's
        3.14 and 3.15, run through sid.command)."""
        out = []
        for label, pattern in PYTHONS:
            if py_only and self.py_only and label.split()[0] not in self.py_only:
                continue
            found = sorted(glob.glob(pattern))
            if not found:
                if py_only:
                    self.note("CPython %s: `%s` not found, skipped." % (label, pattern))
                continue
            out.append((label, found[-1]))
        if py_only:
            sid = [(l, p) for l, p in sid_pythons()
                   if not self.py_only or l.split()[0] in self.py_only]
            if not sid_pythons():
                self.note("CPython 3.14 and 3.15 (sid): %s, skipped." % sid_why_absent())
            out += sid
        return out


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]
