// How the GIL of a CPython process is measured: one enum from what an interpreter's file
// allows (daemon/python) through the plan for a process (daemon/host) to the `method` label of
// gilstat_python_info (metrics). docs/PYTHON.md describes each method.
#pragma once

namespace gilstat {

enum class GilMethod {
  kNone,             // nothing identifies the GIL (e.g. stripped 2.x, stripped 3.x without
                     // _PyRuntime)
  kTakeGil,          // 3.x: uprobes on take_gil/drop_gil (+ the GIL condvar for drop requests)
  kGilCondvar,       // 3.x stripped: waits on the GIL condvar only (contended acquisitions),
                     // the GIL state reached from _PyRuntime (table or _Py_DebugOffsets)
  kInterpreterLock,  // 2.x: the semaphore probes, the GIL's sem_t labelled "gil"
  kGilDisabled,      // free-threaded build running without the GIL
};

// The label value: "none", "take_gil", "gil_condvar", "interpreter_lock", "gil_disabled".
inline const char* GilMethodLabel(GilMethod m) {
  switch (m) {
    case GilMethod::kNone:
      return "none";
    case GilMethod::kTakeGil:
      return "take_gil";
    case GilMethod::kGilCondvar:
      return "gil_condvar";
    case GilMethod::kInterpreterLock:
      return "interpreter_lock";
    case GilMethod::kGilDisabled:
      return "gil_disabled";
  }
  return "none";
}

}  // namespace gilstat
