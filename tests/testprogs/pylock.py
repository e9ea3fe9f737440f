# A real Python process contending on threading.Lock: two threads hand two locks to each other
# N times, the releasing side sleeping first so the acquirer is blocked in sem_wait.
# Protocol as semops: prints "ready", waits for a line on stdin, runs, prints "done".
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


print("ready", flush=True)
sys.stdin.readline()
t = threading.Thread(target=worker)
t.start()
for _ in range(n):
    time.sleep(delay)
    a.release()
    b.acquire()
t.join()
print("done", flush=True)
