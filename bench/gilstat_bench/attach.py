"""The configurations attached to one target process in turn: nothing, the floor (empty BPF
programs at the probe's sites), gilstatd in a probe mode, the bpftrace one-liner."""

import os
import signal
import subprocess

from .procs import Child, Gilstatd, gilstatd_config, libc_of

# The bpftrace one-liner of section 1, as run (LIBC is replaced by the target's libc path).
BPFTRACE_PROG = (
    "uprobe:LIBC:sem_wait { @start[tid] = nsecs; @sem[tid] = arg0; } "
    "uretprobe:LIBC:sem_wait /@start[tid]/ { @wait_ns[@sem[tid]] = hist(nsecs - @start[tid]); "
    "delete(@start[tid]); delete(@sem[tid]); } "
    "uprobe:LIBC:sem_post { @posts[arg0] = count(); } "
    'BEGIN { printf("attached\\n"); }'
)


def config_label(c):
    """How the report names configuration `c`."""
    if c.startswith("floor-"):
        return "floor (%s sites)" % c[6:]
    if c.startswith("gilstatd-"):
        return "gilstatd " + c[9:]
    return {"none": "nothing"}.get(c, c)


def have_bpftrace():
    return subprocess.run(["sh", "-c", "command -v bpftrace"],
                          capture_output=True).returncode == 0


def bpftrace_version():
    try:
        r = subprocess.run(["bpftrace", "--version"], capture_output=True, text=True)
        return r.stdout.strip() or "bpftrace"
    except OSError:
        return "bpftrace"


class Tracefs:
    """bpftrace 0.17 creates its uprobes through perf_event_open (no tracefs needed) but, when
    tracefs is missing, prints an error for every probe on exit (it looks for the probe in
    uprobe_events). If it cannot attach without tracefs, tracefs is mounted for it and unmounted
    at the end of the run (one instance per run, in the context)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.mounted_by_us = False

    def mount(self):
        if os.path.exists("/sys/kernel/tracing/uprobe_events"):
            return False
        r = subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            self.mounted_by_us = True
            self.ctx.cleanups.append(self.unmount)
            self.ctx.note("tracefs was mounted on /sys/kernel/tracing for bpftrace and unmounted "
                          "afterwards.")
            return True
        return False

    def unmount(self):
        if self.mounted_by_us:
            subprocess.run(["umount", "/sys/kernel/tracing"], capture_output=True)
            self.mounted_by_us = False


def floor_sites(child):
    """Reads the floor tool's site lines up to "ready N": (uprobes, description)."""
    sites, offsets, uprobes = [], set(), 0
    while True:
        m = child.expect(r"(site (\S+) (\S+)(.*)|ready (\d+) (\S+))$", 60)
        if m.group(5):
            break
        fn, method, offs = m.group(2), m.group(3), m.group(4).split()
        sites.append("`%s` %s" % (fn, method))
        for off in offs:
            if (off, method) in offsets:  # a slow path shared with another function
                continue
            offsets.add((off, method))
            uprobes += 2 if method in ("entry+return", "slow-path+return") else 1
    kernel = {"scheduler": "the scheduler's switch and wake-up tracepoints",
              "syscall": "the syscall entry tracepoint"}.get(m.group(6), m.group(6))
    return uprobes, "%d uprobes (%s; %s BPF links with %s)" % (
        uprobes, ", ".join(sites), m.group(5), kernel)


class Attached:
    """One configuration attached to `pid`: none, floor-MODE, gilstatd-MODE, bpftrace. `tracefs`
    is the run's Tracefs (bpftrace only)."""

    def __init__(self, ctx, config, pid, tracefs=None):
        self.config = config
        self.child = None
        self.gilstatd = None
        self.info = ""
        self.uprobes = None
        if config == "none":
            return
        if config.startswith("floor-"):
            self.child = Child([ctx.path("floor"), "--pid=%d" % pid, "--mode=" + config[6:]],
                               "floor", ctx.tmp)
            self.uprobes, self.info = floor_sites(self.child)
        elif config.startswith("gilstatd-"):
            self.gilstatd = Gilstatd(ctx.path("gilstatd"), ctx.tmp,
                                     gilstatd_config(["pid: %d" % pid], config[9:]))
            try:
                self.gilstatd.wait_attached(1)
            except BaseException:
                self.gilstatd.close()
                raise
        elif config == "bpftrace":
            self._start_bpftrace(ctx, pid, tracefs)
        else:
            raise ValueError(config)

    def _start_bpftrace(self, ctx, pid, tracefs):
        prog = BPFTRACE_PROG.replace("LIBC", libc_of(pid))
        for attempt in (1, 2):
            self.child = Child(["bpftrace", "-p", str(pid), "-e", prog], "bpftrace", ctx.tmp)
            try:
                self.child.expect(r"attached", 60)
                return
            except RuntimeError:
                self.child.stop(signal.SIGINT)
                if attempt == 2 or tracefs is None or not tracefs.mount():
                    raise

    def stop(self):
        if self.gilstatd:
            try:
                self.gilstatd.stop(timeout=120)
            except subprocess.TimeoutExpired:
                pass
            self.gilstatd.close()  # kills it if it did not stop
        elif self.child and self.config == "bpftrace":
            self.child.stop(signal.SIGINT)
        elif self.child:
            self.child.stop()
