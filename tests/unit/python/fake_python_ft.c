// Stand-in for a free-threaded CPython 3.13.1 library (libpython3.13t.so): only what identifies
// one. Py_Version and the _Py_DebugOffsets header carry PY_VERSION_HEX 0x030d01f0.
const unsigned long Py_Version = 0x030d01f0UL;

struct DebugOffsetsHead {
  char cookie[8];
  unsigned long long version;
  unsigned long long rest[6];
};
struct DebugOffsetsHead _PyRuntime = {
    {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'}, 0x030d01f0ULL, {1, 2, 3, 4, 5, 6}};

const char* Py_GetVersion(void) { return "3.13.1 experimental free-threading build"; }
void _Py_MergeZeroLocalRefcount(void* op) { (void)op; }
void _Py_DecRefShared(void* op) { (void)op; }
