// Stand-in for an older CPython library (libpython3.9.so): no Py_Version, the version only as
// the tail of a longer .rodata string, the way the linker merges PY_VERSION into the prefix.
static const char kPrefix[] = "/opt/python/3.9.18";
static const char kOther[] = "3.2.0";  // e.g. unicodedata's version: must not be taken

const char* Py_GetVersion(void) { return kPrefix + 12; }
const char* PyUnicode_Version(void) { return kOther; }
const char* Py_GetPrefix(void) { return kPrefix; }
