# CPU-bound threads contending for the GIL (CPython 2.7 and 3.x).
#   pygil_cpu.py THREADS SECONDS
# Prints "ready", waits for a line on stdin, runs THREADS threads that count in a loop for
# SECONDS, prints "thread I COUNT" per thread, "elapsed S" and "cpu S" (the process's user +
# system time over the run), then "done".
import os
import sys
import threading
import time

nthreads = int(sys.argv[1])
seconds = float(sys.argv[2])
counts = [0] * nthreads
stop = [False]


def spin(i):
    n = 0
    while not stop[0]:
        n += 1
    counts[i] = n


sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
threads = [threading.Thread(target=spin, args=(i,)) for i in range(nthreads)]
start = time.time()
cpu_start = sum(os.times()[:2])
for t in threads:
    t.start()
time.sleep(seconds)
stop[0] = True
for t in threads:
    t.join()
for i, n in enumerate(counts):
    sys.stdout.write("thread %d %d\n" % (i, n))
sys.stdout.write("elapsed %.3f\n" % (time.time() - start))
sys.stdout.write("cpu %.3f\n" % (sum(os.times()[:2]) - cpu_start))
sys.stdout.write("done\n")
sys.stdout.flush()
# Stay until stdin closes, so the observer can read the process's state after the run.
sys.stdin.readline()
