# A real Python target for the end-to-end tests: THREADS threads contend for one
# threading.Lock around a short critical section, until killed. Prints "ready" once running.
import sys
import threading
import time

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 4
lock = threading.Lock()
counter = [0]


def worker():
    while True:
        with lock:
            counter[0] += 1
            time.sleep(0.0002)  # hold it long enough for the others to block


for _ in range(THREADS):
    threading.Thread(target=worker, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(1)
