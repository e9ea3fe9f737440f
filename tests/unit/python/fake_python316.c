// Stand-in for a CPython 3.16.0 (a minor version newer than every one gilstat knows) built with
// hidden symbols and stripped: _PyRuntime is found only through its own ELF section, .PyRuntime.
// Its _Py_DebugOffsets head has the layout of 3.15 (tools/gen_gil_layout.sh, "debug_offsets
// row") and describes the synthetic main interpreter below, whose GIL state has the layout of
// struct _gil_runtime_state (interval, last_holder, locked, switch_number, cond, mutex).
// With FAKE_FREE_THREADED: a free-threaded 3.15.2 instead (libpython3.15t), whose GIL state
// starts with `int enabled` (Py_GIL_DISABLED) and whose _Py_DebugOffsets say free_threaded = 1.
#include <stddef.h>
#include <stdint.h>

#ifdef FAKE_FREE_THREADED
#define FAKE_VERSION 0x030f02f0UL
#else
#define FAKE_VERSION 0x031000f0UL
#endif

const unsigned long Py_Version = FAKE_VERSION;

struct FakeGil {
#ifdef FAKE_FREE_THREADED
  int enabled;
#endif
  unsigned long interval;
  void* last_holder;
  int locked;
  unsigned long switch_number;
  char cond[48];
  char mutex[40];
  char switch_cond_and_mutex[88];
};
struct FakeInterp {
  struct FakeInterp* next;
  int64_t id;
  struct FakeGil* ceval_gil;
  int64_t pad;
  struct FakeGil gil;
};
struct FakeRuntime {
  char cookie[8];
  uint64_t version;
  uint64_t free_threaded;
  uint64_t runtime_state[3];       // size, finalizing, interpreters_head
  uint64_t interpreter_state[16];  // size, id, next, threads_head, threads_main, gc, ...
  struct FakeInterp* interpreters_head;
  struct FakeInterp main_interp;
};

#ifdef FAKE_FREE_THREADED
#define FAKE_FT 1
#define FAKE_ENABLED_OFFSET offsetof(struct FakeInterp, gil.enabled)
#else
#define FAKE_FT 0
#define FAKE_ENABLED_OFFSET 0
#endif

__attribute__((section(".PyRuntime"), visibility("hidden"), used)) struct FakeRuntime _PyRuntime = {
    .cookie = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'},
    .version = FAKE_VERSION,
    .free_threaded = FAKE_FT,
    .runtime_state = {sizeof(struct FakeRuntime), 0,
                      offsetof(struct FakeRuntime, interpreters_head)},
    .interpreter_state = {sizeof(struct FakeInterp), offsetof(struct FakeInterp, id),
                          offsetof(struct FakeInterp, next), 0, 0, 0, 0, 0, 0,
                          offsetof(struct FakeInterp, ceval_gil), offsetof(struct FakeInterp, gil),
                          FAKE_ENABLED_OFFSET, offsetof(struct FakeInterp, gil.locked),
                          offsetof(struct FakeInterp, gil.last_holder), 0, 0},
    .interpreters_head = &_PyRuntime.main_interp,
    .main_interp = {.ceval_gil = &_PyRuntime.main_interp.gil,
                    .gil = {.interval = 5000, .locked = -1}},
};

const char* Py_GetVersion(void) { return "synthetic"; }
#ifdef FAKE_FREE_THREADED
void _Py_MergeZeroLocalRefcount(void* op) { (void)op; }
void _Py_DecRefShared(void* op) { (void)op; }
void fake_set_enabled(int enabled) { _PyRuntime.main_interp.gil.enabled = enabled; }
#endif
// The GIL state the daemon must find, and a way to make the interpreter inconsistent with it.
void* fake_gil_state(void) { return &_PyRuntime.main_interp.gil; }
void fake_set_gil(int locked, unsigned long switch_number, unsigned long interval) {
  _PyRuntime.main_interp.gil.locked = locked;
  _PyRuntime.main_interp.gil.switch_number = switch_number;
  _PyRuntime.main_interp.gil.interval = interval;
}
void fake_point_gil_elsewhere(int elsewhere) {
  _PyRuntime.main_interp.ceval_gil =
      elsewhere ? (struct FakeGil*)&_PyRuntime.main_interp.pad : &_PyRuntime.main_interp.gil;
}
