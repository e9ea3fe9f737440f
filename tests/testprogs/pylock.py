# A real Python process contending on threading.Lock: two threads hand two locks to each other
# N times, the releasing side sleeping first so the acquirer is blocked in sem_wait.
# Protocol as semops: prints "ready", waits for a line on stdin, runs, prints "done".
# Runs on CPython 2.7 and 3.x.
import sys
import threading
import time

n = int(sys.argv[1])
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.001
a = threading.Lock()
b = threading.Lock()
a.acquire()
b.acquire()


def worker():
    for _ in range(n):
        a.acquire()
        time.sleep(delay)
        b.release()


sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
t = threading.Thread(target=worker)
t.start()
for _ in range(n):
    time.sleep(delay)
    a.release()
    b.acquire()
t.join()
sys.stdout.write("done\n")
sys.stdout.flush()
# Stay until stdin closes, so the observer can read the process's state after the run.
sys.stdin.readline()
