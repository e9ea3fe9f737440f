# Two threading.Lock objects in a CPython 3.13+ process: `hot`, taken by THREADS threads N times
# each (held 2 ms, then 0.2 ms outside: a waiter finds it held and sleeps, and waits long enough
# to be handed the lock directly), and `cold`, taken and released by one thread only. It
# prints the address of each lock's mutex as the probes name it (3.14+: the PyMutex inside the
# lock object; 3.13: the sem_t the object points to, 3.13's threading.Lock being a semaphore
# still) and how many acquisitions of `hot` found it held (a non-blocking try failed first).
# Protocol as semops: prints "ready", waits for a line on stdin, runs, prints "key value" lines
# and "done", then stays until stdin closes.
import ctypes
import sys
import threading
import time

n = int(sys.argv[1])
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 3
hot = threading.Lock()
cold = threading.Lock()
HEAD = 16  # PyObject_HEAD of a default (not free-threaded, not trace-refs) build


def mutex_address(lock):
    """lockobject is {PyObject_HEAD; PyMutex lock} from 3.14, {PyObject_HEAD; PyThread_type_lock
    lock_lock; ...} in 3.13 (a malloc'd sem_t). Checked: the word there follows the lock."""
    if sys.version_info[:2] == (3, 13):
        sem = ctypes.c_void_p.from_address(id(lock) + HEAD).value
        value = lambda: ctypes.c_uint32.from_address(sem).value  # noqa: E731 (1 free, 0 taken)
        free, taken, addr = 1, 0, sem
    else:
        addr = id(lock) + HEAD
        value = lambda: ctypes.c_uint8.from_address(addr).value & 1  # noqa: E731 (_Py_LOCKED)
        free, taken = 0, 1
    states = [value()]
    lock.acquire()
    states.append(value())
    lock.release()
    states.append(value())
    if states != [free, taken, free]:
        sys.exit("unexpected lock layout: %s at 0x%x" % (states, addr))
    return addr


found_held = [0] * threads


def worker(i):
    for _ in range(n):
        if not hot.acquire(False):
            found_held[i] += 1
            hot.acquire()
        time.sleep(0.002)
        hot.release()
        time.sleep(0.0002)


sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
hot_addr, cold_addr = mutex_address(hot), mutex_address(cold)
for _ in range(100):
    with cold:
        pass
ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
start = time.time()
for t in ts:
    t.start()
for t in ts:
    t.join()
sys.stdout.write("hot %d\ncold %d\nfound_held %d\nelapsed %f\ndone\n"
                 % (hot_addr, cold_addr, sum(found_held), time.time() - start))
sys.stdout.flush()
sys.stdin.readline()
