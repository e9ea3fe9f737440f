# The convoy effect (CPython 2.7 and 3.x): an I/O thread answers 1-byte requests over a
# socketpair while a CPU-bound thread runs; every request wakes the I/O thread, which must then
# get the GIL back from the CPU thread. The client runs in a forked child process, outside this
# interpreter's GIL, and waits 1 ms between requests.
#   pygil_convoy.py SECONDS
# Prints "ready", waits for a line on stdin, runs for SECONDS, prints "roundtrips N",
# "elapsed S" and "done", then stays until stdin closes.
import os
import socket
import sys
import threading
import time

seconds = float(sys.argv[1])
stop = [False]
a, b = socket.socketpair()


def echo():
    while True:
        data = a.recv(1)
        if not data:
            return
        a.sendall(data)


def spin():
    n = 0
    while not stop[0]:
        n += 1


sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
r, w = os.pipe()
pid = os.fork()  # before any thread starts
if pid == 0:  # the client
    try:
        a.close()
        time.sleep(0.05)  # let the CPU thread start first
        start = time.time()
        trips = 0
        while time.time() - start < seconds:
            # Think 1 ms between requests: enough for the CPU thread to take the GIL while the
            # I/O thread blocks, so that every request finds it held (the convoy).
            time.sleep(0.001)
            b.sendall(b"x")
            if not b.recv(1):
                break
            trips += 1
        os.write(w, ("%d %.3f" % (trips, time.time() - start)).encode())
    finally:
        os._exit(0)
threads = [threading.Thread(target=spin), threading.Thread(target=echo)]
for t in threads:
    t.start()
os.close(w)
b.close()
result = os.read(r, 100).decode().split()
os.waitpid(pid, 0)
stop[0] = True
a.shutdown(socket.SHUT_RDWR)
for t in threads:
    t.join()
sys.stdout.write("roundtrips %s\n" % result[0])
sys.stdout.write("elapsed %s\n" % result[1])
sys.stdout.write("done\n")
sys.stdout.flush()
# Stay until stdin closes, so the observer can read the process's state after the run.
sys.stdin.readline()
