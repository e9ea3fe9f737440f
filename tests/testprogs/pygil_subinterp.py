# Two sub-interpreters with their own GIL (CPython 3.12+), each running CPU-bound threads that
# contend for ITS GIL, while the main interpreter's GIL stays quiet.
#   pygil_subinterp.py THREADS SECONDS [late]
# Creates the sub-interpreters (3.14+: concurrent.interpreters; 3.13: _interpreters or
# _xxsubinterpreters; 3.12: _xxsubinterpreters, isolated), prints "ready", waits for a line on
# stdin, then in each sub-interpreter runs THREADS threads that count in a loop for SECONDS (one
# main-interpreter thread per sub-interpreter waits for them there), prints "elapsed S",
# "interpreter_I ID" for each and "done", and exits without finalizing when stdin closes.
# With "late" the sub-interpreters are created after the line on stdin, right before they run.
# Exits 3 with a message when the interpreter has no sub-interpreter module.
import os
import sys
import threading
import time

nthreads = int(sys.argv[1])
seconds = float(sys.argv[2])
late = sys.argv[3:] == ["late"]

CODE = """
import threading, time
stop = [False]
def spin():
    n = 0
    while not stop[0]:
        n += 1
threads = [threading.Thread(target=spin) for _ in range(%d)]
for t in threads:
    t.start()
time.sleep(%f)
stop[0] = True
for t in threads:
    t.join()
""" % (nthreads, seconds)


def make():
    """(create() -> handle, run(handle, code), id(handle)) for this interpreter."""
    try:
        from concurrent import interpreters  # 3.14+: own GIL by default
        return interpreters.create, lambda i, c: i.exec(c), lambda i: i.id
    except ImportError:
        pass
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        run = getattr(mod, "exec", None) or getattr(mod, "run_string")

        def create(mod=mod):
            # 3.13 takes a config name; 3.12's create() makes an isolated one (its own GIL).
            try:
                return mod.create("isolated")
            except TypeError:
                return mod.create(isolated=True)

        return create, run, int
    sys.stderr.write("no sub-interpreter module in Python %s\n" % sys.version.split()[0])
    sys.exit(3)


create, run, ident = make()
subs = [] if late else [create() for _ in range(2)]
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
if late:
    subs = [create() for _ in range(2)]
errors = []


def drive(s):
    try:
        err = run(s, CODE)
        if err is not None:
            errors.append(err)
    except Exception as e:  # reported below: the test fails with it
        errors.append(e)


drivers = [threading.Thread(target=drive, args=(s,)) for s in subs]
start = time.time()
for t in drivers:
    t.start()
for t in drivers:
    t.join()
if errors:
    sys.stderr.write("sub-interpreter errors: %r\n" % (errors,))
    sys.exit(1)
sys.stdout.write("elapsed %.3f\n" % (time.time() - start))
for i, s in enumerate(subs):
    sys.stdout.write("interpreter_%d %d\n" % (i, ident(s)))
sys.stdout.write("done\n")
sys.stdout.flush()
# Stay until stdin closes, so the observer can read the process's state after the run.
sys.stdin.readline()
# 3.12 hangs destroying (or finalizing) a sub-interpreter that ran threads: no finalization.
os._exit(0)
