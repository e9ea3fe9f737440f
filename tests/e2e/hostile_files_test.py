"""Files a target names: gilstatd opens the exact file each mapping refers to, whatever the path
in the maps says (docs/SECURITY.md "Files a target names").

- A process run with chroot (same mount namespace: its maps print host paths) is attached and
  measured.
- A process in its own mount namespace whose libc path, after it mapped libc, leads to a FIFO or
  to a symbolic link to a host-only file: gilstatd probes the libc the process really maps (its
  semaphore series appear), never blocks, keeps serving and stops promptly on SIGTERM.
- Sparse files named libc.so.6 and libpython3.99.so.1.0 whose section headers claim 1.5 GiB,
  mapped executable by a target: refused (gilstat_attach_errors_total{reason="refused_file"}),
  and gilstatd's peak RSS stays within 64 MB.

Environment: GILSTATD, TESTPROGS_DIR (semops_pie), PYTHON_TARGET (python3).
"""
import ctypes  # noqa: F401  (the sparse-file target uses it; checked importable here)
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PYTHON, bpf_unavailable, start_gilstatd, wait_for  # noqa: E402
from gilstat_bench.procs import gilstatd_config, proc_status_bytes  # noqa: E402

TESTPROGS = os.environ.get("TESTPROGS_DIR", "")
SEMOPS = os.path.join(TESTPROGS, "semops_pie")
RSS_LIMIT = 64 << 20


def shared_libs(program):
    """{path: path} of the dynamic loader and libraries `program` needs (from ldd)."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                libs.append(p)
    return libs


def lock_series_total(scrape):
    return scrape.total("gilstat_lock_contended_total") or 0


class Semops:
    """semops_pie (or an argv running it) in ping-pong mode: contended semaphore waits while it
    runs. Started waiting for a line on stdin; go() starts the work."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        self.lines = []

    def expect(self, prefix):
        for line in self.lines:  # seen already (the lines of two processes interleave)
            if line.startswith(prefix):
                self.lines.remove(line)
                return line
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("target ended before %r; got %r" % (prefix, self.lines))
            if line.startswith(prefix):
                return line.strip()
            self.lines.append(line.strip())

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class HostileFiles(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(SEMOPS):
            self.skipTest("TESTPROGS_DIR/semops_pie not built (run through ctest)")
        # Not /tmp: it may be mounted noexec, and the targets map files executable.
        self.dir = tempfile.mkdtemp(prefix="gilstat-hostile-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def daemon(self, pids, name):
        targets = ["pid: %d" % p for p in pids]
        g = start_gilstatd(self.dir, gilstatd_config(targets, "default",
                                                     "rescan_interval: 500ms\n"), name=name)
        self.addCleanup(g.close)
        g.wait_serving()
        return g

    def stop_promptly(self, g):
        t0 = time.monotonic()
        self.assertEqual(g.stop(signal.SIGTERM, timeout=10), 0, g.output_tail())
        self.assertLess(time.monotonic() - t0, 5.0)

    def measured(self, g, target, what):
        """Waits until `target` is attached, lets it run, and checks its semaphore series."""
        g.wait_attached(1, timeout=20)
        target.go()
        wait_for(what + ": semaphore series", lambda: lock_series_total(g.scrape()) > 0,
                 timeout=20)

    def test_chroot_same_mount_namespace(self):
        root = os.path.join(self.dir, "chroot")
        for lib in shared_libs(SEMOPS):
            dest = root + lib
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(lib, dest)
        shutil.copy2(SEMOPS, os.path.join(root, "semops"))
        t = Semops(["chroot", root, "/semops", "pingpong", "4000", "500"])
        self.addCleanup(t.close)
        t.expect("ready")
        with open("/proc/%d/maps" % t.proc.pid) as f:
            libc_lines = [line for line in f if "libc.so.6" in line]
        # The maps print the host path of the chroot's libc: the case that broke.
        self.assertTrue(libc_lines and root in libc_lines[0], libc_lines)
        g = self.daemon([t.proc.pid], "chroot")
        self.measured(g, t, "chroot")
        self.assertEqual(g.scrape().total("gilstat_attach_errors_total") or 0, 0, g.output())
        self.stop_promptly(g)

    def run_swapped_namespace(self, swap):
        """A target in its own mount namespace maps a private copy of libc, then the path its
        maps print is overmounted with `swap` (shell commands run in $NS)."""
        ns = os.path.join(self.dir, "ns-" + swap.split()[0])
        os.makedirs(ns)
        host_only = os.path.join(self.dir, "host-only-file")
        with open(host_only, "w") as f:
            f.write("host only\n")
        libc = [p for p in shared_libs(SEMOPS) if "libc.so" in p][0]
        script = """set -e
exec 3<&0
mount -t tmpfs gilstat-test "$NS"
cp "$LIBC" "$NS/libc.so.6"
LD_LIBRARY_PATH="$NS" "$PROG" pingpong 4000 500 <&3 &
echo "pid $!"
sleep 0.3
mount -t tmpfs gilstat-over "$NS"
cd "$NS"
%s
echo swapped
wait
""" % swap
        env = dict(os.environ, NS=ns, LIBC=libc, PROG=SEMOPS, HOST_ONLY=host_only)
        t = Semops(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env)
        self.addCleanup(t.close)
        pid = int(t.expect("pid ").split()[1])
        t.expect("swapped")
        t.expect("ready")
        g = self.daemon([pid], "ns")
        # The libc it maps is the private copy; probing any other file would see nothing.
        self.measured(g, t, swap)
        scrape = g.scrape()
        self.assertEqual(scrape.get("gilstat_probes_attached"), 1)
        self.assertEqual(scrape.total("gilstat_attach_errors_total") or 0, 0, g.output())
        self.stop_promptly(g)

    def test_namespace_libc_path_now_a_fifo(self):
        self.run_swapped_namespace("mkfifo libc.so.6")

    def test_namespace_libc_path_now_a_symlink_to_a_host_file(self):
        self.run_swapped_namespace('ln -s "$HOST_ONLY" libc.so.6')

    def test_sparse_files_with_huge_sections(self):
        gib = 1 << 30
        libc = os.path.join(self.dir, "libc.so.6")
        libpython = os.path.join(self.dir, "libpython3.99.so.1.0")
        for path in (libc, libpython):
            write_sparse_elf(path, 2 * gib, [(2, 3 * gib // 2, 8192, 2),  # SHT_SYMTAB
                                             (3, gib // 4, 8192 + 3 * gib // 2, 0)])  # STRTAB
        # A: maps the sparse libc first (lowest address), so it is the libc found for it.
        # B: maps only the sparse libpython: attached, then its interpreter inspected.
        a = subprocess.Popen([PYTHON, "-c", SPARSE_TARGET, libc, libpython],
                             stdout=subprocess.PIPE, text=True)
        b = subprocess.Popen([PYTHON, "-c", SPARSE_TARGET, libpython],
                             stdout=subprocess.PIPE, text=True)
        for p in (a, b):
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
            line = p.stdout.readline().strip()
            if line.startswith("skip"):
                self.skipTest(line)
            self.assertEqual(line, "mapped", line)
        g = self.daemon([a.pid, b.pid], "sparse")
        wait_for("sparse libc refused", lambda: g.scrape().get(
            "gilstat_attach_errors_total", reason="refused_file") == 1, timeout=20)
        g.wait_attached(1, timeout=20)
        time.sleep(1.0)  # B's interpreter inspected (its sparse libpython refused)
        out = g.output()
        self.assertIn("larger than gilstat reads", out)
        self.assertEqual(out.count("cannot attach to pid %d" % a.pid), 1, out)
        hwm = proc_status_bytes(g.pid, "VmHWM")
        if os.environ.get("GILSTAT_SANITIZE"):
            # A sanitizer's shadow memory and quarantine are not gilstatd's: the bound is checked
            # on the normal build of the same test command.
            print("peak RSS %d MB not checked against the 64 MB bound: a %s build" %
                  (hwm >> 20, os.environ["GILSTAT_SANITIZE"]))
        else:
            self.assertLessEqual(hwm, RSS_LIMIT, "peak RSS %d MB" % (hwm >> 20))
        self.stop_promptly(g)
        for p in (a, b):
            p.stdout.close()


def write_sparse_elf(path, size, sections):
    """An ELF64 header, a section header table at 4096 (null section + `sections` as (type,
    size, offset, link)), the file extended sparsely to `size` bytes."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, 4096, 0, 64, 0, 0, 64,
                               1 + len(sections), 0)
    table = bytes(64)
    for (typ, sz, off, link) in sections:
        table += struct.pack("<IIQQQQIIQQ", 0, typ, 0, 0, off, sz, link, 0, 8,
                             24 if typ == 2 else 0)
    with open(path, "wb") as f:
        f.write(ehdr)
        f.seek(4096)
        f.write(table)
        f.truncate(size)


# A target mapping each file given executable at fixed low addresses (below every library, so
# first in its maps), then sleeping.
SPARSE_TARGET = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
PROT_READ, PROT_EXEC, MAP_PRIVATE, MAP_FIXED_NOREPLACE = 1, 4, 2, 0x100000
for i, path in enumerate(sys.argv[1:]):
    fd = os.open(path, os.O_RDONLY)
    addr = libc.mmap(0x10000000 * (i + 1), 4096, PROT_READ | PROT_EXEC,
                     MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        print("skip: mmap PROT_EXEC of %s failed: %s" % (path, os.strerror(ctypes.get_errno())),
              flush=True)
        sys.exit(0)
print("mapped", flush=True)
time.sleep(120)
"""


if __name__ == "__main__":
    unittest.main(verbosity=2)
