# Known GIL waiters and holders for `gilstat stacks` (CPython 3.11+).
#   pystacks.py MODE SECONDS
# Prints "ready", waits for a line on stdin, then for SECONDS:
#   plain: thread A runs hog() (a pure-Python loop) while thread B, in b_main(), calls waiter()
#          over and over, which sleeps 1 ms (short I/O: the GIL is released around it and must be
#          taken back from hog, a contended wait each time);
#   deep:  the same with waiter() called 100 frames deep (recurse());
#   churn: the same with waiter() reached through code objects created and dropped at run time
#          (a lambda and exec'd code, new ones every call);
#   locks: threading-lock waits: thread A, in lock_holder(), holds a threading.Lock for 2 ms at a
#          time (asleep: the GIL is free) while thread B, in b_locks(), calls lock_waiter() over
#          and over, which takes the lock and lets it go (a contended lock wait each time A holds
#          it).
# Then prints "done" and stays until stdin closes.
import sys
import threading
import time

mode = sys.argv[1]
seconds = float(sys.argv[2])
stop = [False]


def hog():
    n = 0
    while not stop[0]:
        n += 1


def waiter():
    time.sleep(0.001)


def recurse(n):
    if n:
        recurse(n - 1)
    else:
        waiter()


def churn(i):
    ns = {"waiter": waiter}
    exec(compile("def made_%d():\n    waiter()\n" % (i % 50), "<made>", "exec"), ns)
    (lambda: ns["made_%d" % (i % 50)]())()


def b_main():
    i = 0
    while not stop[0]:
        if mode == "deep":
            recurse(100)
        elif mode == "churn":
            churn(i)
        else:
            waiter()
        i += 1


lock = threading.Lock()


def lock_holder():
    while not stop[0]:
        with lock:
            time.sleep(0.002)
        time.sleep(0.0005)


def lock_waiter():
    with lock:
        pass


def b_locks():
    while not stop[0]:
        lock_waiter()


sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
if mode == "locks":
    threads = [threading.Thread(target=lock_holder), threading.Thread(target=b_locks)]
else:
    threads = [threading.Thread(target=hog), threading.Thread(target=b_main)]
for t in threads:
    t.start()
time.sleep(seconds)
stop[0] = True
for t in threads:
    t.join()
sys.stdout.write("done\n")
sys.stdout.flush()
sys.stdin.readline()
