# One thread holding the GIL for a known fraction of the time (CPython 2.7 and 3.x).
#   pygil_duty.py HOLD_MS SLEEP_MS SECONDS
# Prints "ready", waits for a line on stdin, then for SECONDS repeats: a pure-Python busy loop
# for HOLD_MS (the GIL held), time.sleep(SLEEP_MS) (the GIL released). Prints the real duty
# cycle it measured ("duty_held": the time outside time.sleep over the elapsed time;
# "duty_cpu": its CPU time over the elapsed time, where the clock exists), "elapsed S", then
# "done", and stays until stdin closes.
import sys
import threading
import time

clock = getattr(time, "perf_counter", time.time)
hold = float(sys.argv[1]) / 1000.0
pause = float(sys.argv[2]) / 1000.0
seconds = float(sys.argv[3])

# CPython 2 creates its GIL with the first thread: an idle one (blocked, GIL released).
idle_lock = threading.Lock()
idle_lock.acquire()
idle = threading.Thread(target=idle_lock.acquire)
idle.daemon = True
idle.start()

sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
thread_time = getattr(time, "thread_time", None)
cpu0 = thread_time() if thread_time else 0.0
start = clock()
end = start + seconds
slept = 0.0
while True:
    t = clock()
    if t >= end:
        break
    stop = t + hold
    while clock() < stop:
        pass
    s0 = clock()
    time.sleep(pause)
    slept += clock() - s0
elapsed = clock() - start
sys.stdout.write("duty_held %.4f\n" % ((elapsed - slept) / elapsed))
if thread_time:
    sys.stdout.write("duty_cpu %.4f\n" % ((thread_time() - cpu0) / elapsed))
sys.stdout.write("elapsed %.3f\n" % elapsed)
sys.stdout.write("done\n")
sys.stdout.flush()
sys.stdin.readline()
