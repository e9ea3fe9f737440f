# Two threads that each hold the GIL for about 1 ms of counting, then block briefly
# (time.sleep releases the GIL): the other, waiting, gets the GIL from a voluntary release,
# well within the switch interval (CPython 3).
#   pygil_relay.py SECONDS
# Prints "ready", waits for a line on stdin, runs for SECONDS, prints "elapsed S" and "done",
# then stays until stdin closes.
import sys
import threading
import time

seconds = float(sys.argv[1])
stop = [False]


def relay():
    while not stop[0]:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        time.sleep(0.0002)


sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
threads = [threading.Thread(target=relay) for _ in range(2)]
start = time.time()
for t in threads:
    t.start()
time.sleep(seconds)
stop[0] = True
for t in threads:
    t.join()
sys.stdout.write("elapsed %.3f\n" % (time.time() - start))
sys.stdout.write("done\n")
sys.stdout.flush()
sys.stdin.readline()
