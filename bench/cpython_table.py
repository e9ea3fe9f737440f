"""The echo / convoy / countdown measurements of gilstat_bench_runtime, in real CPython.

Prints one Markdown table row shaped like the runner's main table:

    | CPython 3.11.2 | echo alone | +1 CPU thread | +2 CPU threads | countdown 1 / 2 / 4 |

Echo: a server thread answers 1-byte requests over a socketpair; the client runs in a forked
child process (outside this interpreter's GIL) and counts round trips for DURATION seconds.
Convoy: the same with 1 or 2 CPU-bound threads (``n += 1; n -= 1`` in a loop) started first.
Countdown: ``while n > 0: n -= 1`` over STEPS iterations split across 1 / 2 / 4 threads.
Paced convoy (``--serve`` only): the same echo server and CPU-bound threads, but the client sends
one request every PERIOD and times each round trip (a latency, where the echo rate above is the
outcome of a wake-up race).

Each cell is the median of REPEAT runs.

Runs unchanged on Python 2.7 and 3.x:  python cpython_table.py [DURATION] [STEPS] [REPEAT]

``python cpython_table.py --serve`` is the long-lived target of bench/report.py (the probes attach
to it between measurements): it prints ``ready PID VERSION`` and answers one line per command
read from stdin: ``countdown THREADS STEPS`` -> seconds; ``countdown_cpu THREADS STEPS [REPEAT]``
-> CPU seconds of this process (user + system: what probes add is charged to it, time other
processes take the CPUs is not), the least of REPEAT (default 1) back-to-back runs; ``echo CPU_THREADS DURATION`` -> round trips/s; ``paced CPU_THREADS
PERIOD_MS REQUESTS`` -> ``MEAN_S P50_S P90_S MAX_S PERIOD_S``: round-trip latencies of REQUESTS
1-byte requests sent one every PERIOD_MS (0: 2.5 times the interpreter's switch interval, 12.5 ms
on Python 2), each timed by the client; ``quit``.
"""
from __future__ import print_function

import os
import platform
import socket
import sys
import threading
import time

WARMUP = 0.02


def now():
    return getattr(time, "monotonic", time.time)()


def client(sock, warmup, duration):
    """Child process: drive the echo server; return (round trips, seconds)."""
    time.sleep(warmup)
    n = 0
    start = now()
    deadline = start + duration
    while True:
        sock.send(b"x")
        if not sock.recv(1):
            break
        n += 1
        if now() >= deadline:
            break
    return n, now() - start


def paced_client(sock, warmup, period, requests):
    """Child process: one request every `period` s (on a fixed schedule); the round trips."""
    time.sleep(warmup)
    sock.send(b"x")  # one unrecorded round trip: the threads settled in their loops
    sock.recv(1)
    rtts = []
    start = now() + period
    for i in range(requests):
        left = start + i * period - now()
        if left > 0:
            time.sleep(left)
        t0 = now()
        sock.send(b"x")
        if not sock.recv(1):
            break
        rtts.append(now() - t0)
    return rtts


def server(sock):
    while True:
        b = sock.recv(1)
        if not b:
            break
        sock.send(b)


def spin(flag):
    n = 0
    while flag[0]:
        n += 1
        n -= 1


def echo_rate(cpu_threads, duration):
    warmup = WARMUP if cpu_threads else 0.0
    out = run_with_client(cpu_threads,
                          lambda sock: "%d %.9f" % client(sock, warmup, duration))
    n, secs = out.split()
    return int(n) / float(secs)


def run_with_client(cpu_threads, child):
    """Serves 1-byte echoes in a thread of this interpreter, with `cpu_threads` CPU-bound threads,
    while child(sock) runs in a forked process; returns the text child returned."""
    a, b = socket.socketpair()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the client, in its own process
        try:
            a.close()
            os.close(r)
            os.write(w, child(b).encode())
        finally:
            os._exit(0)
    b.close()
    os.close(w)
    flag = [True]
    spinners = [threading.Thread(target=spin, args=(flag,)) for _ in range(cpu_threads)]
    for t in spinners:
        t.start()
    srv = threading.Thread(target=server, args=(a,))
    srv.start()
    data = b""
    while True:  # blocks without the GIL
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    flag[0] = False
    srv.join()
    a.close()
    for t in spinners:
        t.join()
    return data.decode()


def switch_interval():
    """The interpreter's switch interval in seconds (None on Python 2: a tick count instead)."""
    get = getattr(sys, "getswitchinterval", None)
    return get() if get else None


def paced(cpu_threads, period_ms, requests):
    """Round-trip latencies of paced requests: (mean, p50, p90, max, period) in seconds."""
    period = period_ms / 1000.0
    if period <= 0:
        interval = switch_interval()
        period = 2.5 * interval if interval else 0.0125
    out = run_with_client(cpu_threads, lambda sock: " ".join(
        "%.9f" % x for x in paced_client(sock, WARMUP, period, requests)))
    rtts = sorted(float(x) for x in out.split())
    if not rtts:
        raise RuntimeError("no round trip")

    def pct(p):
        return rtts[min(len(rtts) - 1, int(p * len(rtts)))]
    return sum(rtts) / len(rtts), pct(0.5), pct(0.9), rtts[-1], period


def count(n):
    while n > 0:
        n -= 1


def countdown(threads, steps):
    share = [steps // threads + (1 if i < steps % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=count, args=(s,)) for s in share]
    start = now()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return now() - start


def cpu_time():
    """CPU seconds of this process, all threads (os.times() ticks only every 10 ms)."""
    if hasattr(time, "process_time"):  # 3.3+: CLOCK_PROCESS_CPUTIME_ID
        return time.process_time()
    return time.clock()  # 2.x on Linux: clock(), the process's CPU time


def countdown_cpu(threads, steps):
    before = cpu_time()
    countdown(threads, steps)
    return cpu_time() - before


def median(f, repeat):
    runs = sorted(f() for _ in range(repeat))
    return runs[len(runs) // 2]


def thousands(v):
    return "{:,}".format(int(round(v)))


def serve():
    print("ready %d %s" % (os.getpid(), platform.python_version()))
    sys.stdout.flush()
    while True:
        line = sys.stdin.readline()
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "countdown":
            print("%.6f" % countdown(int(words[1]), int(float(words[2]))))
        elif words[0] == "countdown_cpu":
            print("%.6f" % min(countdown_cpu(int(words[1]), int(float(words[2])))
                               for _ in range(int(words[3]) if len(words) > 3 else 1)))
        elif words[0] == "echo":
            print("%.1f" % echo_rate(int(words[1]), float(words[2])))
        elif words[0] == "paced":
            print("%.9f %.9f %.9f %.9f %.6f" % paced(int(words[1]), float(words[2]),
                                                    int(float(words[3]))))
        else:
            print("error unknown command %r" % words[0])
        sys.stdout.flush()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve()
        return
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    steps = int(float(sys.argv[2])) if len(sys.argv) > 2 else 20000000
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    major = sys.version_info[0]
    if major < 3:
        sys.setcheckinterval(100)  # the default, stated
        gil = "classic GIL"
    else:
        gil = "new GIL, %g ms" % (sys.getswitchinterval() * 1000)
    echo = [median(lambda: echo_rate(k, duration), repeat) for k in (0, 1, 2)]
    cd = [median(lambda: countdown(t, steps), repeat) for t in (1, 2, 4)]
    print("| CPython %s (%s) | %s | %s | %s | %.2f / %.2f / %.2f s |"
          % (platform.python_version(), gil, thousands(echo[0]), thousands(echo[1]),
             thousands(echo[2]), cd[0], cd[1], cd[2]))


if __name__ == "__main__":
    main()
