# An I/O-bound single thread, then a short contended phase (CPython 3).
#   pygil_io.py ROUNDS
# Prints "ready", waits for a line on stdin, writes and reads back 1 byte on a pipe ROUNDS
# times (each os.write and os.read releases and re-takes the GIL; no other thread exists), prints
# "io ROUNDS", waits for a line, runs two counting threads for 0.3 s (contended), prints "done",
# then stays until stdin closes.
import os
import sys
import threading
import time

rounds = int(sys.argv[1])
r, w = os.pipe()
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
for _ in range(rounds):
    os.write(w, b"x")
    os.read(r, 1)
sys.stdout.write("io %d\n" % rounds)
sys.stdout.flush()
sys.stdin.readline()
stop = [False]


def spin():
    while not stop[0]:
        pass


threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
time.sleep(0.3)
stop[0] = True
for t in threads:
    t.join()
sys.stdout.write("done\n")
sys.stdout.flush()
sys.stdin.readline()
