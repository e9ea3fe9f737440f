"""The echo / convoy / countdown measurements of gilstat_bench_runtime, in real CPython.

Prints one Markdown table row shaped like the runner's main table:

    | CPython 3.11.2 | echo alone | +1 CPU thread | +2 CPU threads | countdown 1 / 2 / 4 |

Echo: a server thread answers 1-byte requests over a socketpair; the client runs in a forked
child process (outside this interpreter's GIL) and counts round trips for DURATION seconds.
Convoy: the same with 1 or 2 CPU-bound threads (``n += 1; n -= 1`` in a loop) started first.
Countdown: ``while n > 0: n -= 1`` over STEPS iterations split across 1 / 2 / 4 threads.

Each cell is the median of REPEAT runs.

Runs unchanged on Python 2.7 and 3.x:  python cpython_table.py [DURATION] [STEPS] [REPEAT]

``python cpython_table.py --serve`` is the long-lived target of bench/report.py (the probes attach
to it between measurements): it prints ``ready PID VERSION`` and answers one line per command
read from stdin: ``countdown THREADS STEPS`` -> seconds; ``countdown_cpu THREADS STEPS`` -> CPU
seconds of this process (user + system: what probes add is charged to it, time other processes
take the CPUs is not); ``echo CPU_THREADS DURATION`` -> round trips/s; ``quit``.
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
    a, b = socket.socketpair()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the client, in its own process
        try:
            a.close()
            os.close(r)
            n, secs = client(b, WARMUP if cpu_threads else 0.0, duration)
            os.write(w, ("%d %.9f" % (n, secs)).encode())
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
        chunk = os.read(r, 64)
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
    n, secs = data.decode().split()
    return int(n) / float(secs)


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
            before = cpu_time()
            countdown(int(words[1]), int(float(words[2])))
            print("%.6f" % (cpu_time() - before))
        elif words[0] == "echo":
            print("%.1f" % echo_rate(int(words[1]), float(words[2])))
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
