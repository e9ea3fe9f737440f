// Stand-in for a CPython 3.16.0 (a minor version newer than every one gilstat knows) built with
// hidden symbols and stripped: _PyRuntime is found only through its own ELF section, .PyRuntime.
// Its _Py_DebugOffsets head has the layout of 3.15 (tools/gen_gil_layout.sh, "debug_offsets
// row") and describes the synthetic main interpreter below, whose GIL state has the layout of
// struct _gil_runtime_state (interval, last_holder, locked, switch_number, cond, mutex).
#include <stddef.h>
#include <stdint.h>

const unsigned long Py_Version = 0x031000f0UL;

struct FakeGil {
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

__attribute__((section(".PyRuntime"), visibility("hidden"), used)) struct FakeRuntime _PyRuntime = {
    {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'},
    0x031000f0ULL,
    0,
    {sizeof(struct FakeRuntime), 0, offsetof(struct FakeRuntime, interpreters_head)},
    {sizeof(struct FakeInterp), offsetof(struct FakeInterp, id), offsetof(struct FakeInterp, next),
     0, 0, 0, 0, 0, 0, offsetof(struct FakeInterp, ceval_gil), offsetof(struct FakeInterp, gil), 0,
     offsetof(struct FakeInterp, gil.locked), offsetof(struct FakeInterp, gil.last_holder), 0, 0},
    &_PyRuntime.main_interp,
    {0, 0, &_PyRuntime.main_interp.gil, 0, {5000, 0, -1, 0, {0}, {0}, {0}}},
};

const char* Py_GetVersion(void) { return "3.16.0 (synthetic)"; }
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
