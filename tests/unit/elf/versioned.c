/* A shared library with versioned symbols like glibc's: foo@V1 and foo@@V2 are different code;
 * baz has two non-default versions at different addresses (ambiguous without a version). */
int foo_v1(int x) { return x + 1; }
int foo_v2(int x) { return x * 7 + 3; }
int baz_v1(int x) { return x - 1; }
int baz_v2(int x) { return x * 5 - 2; }
int plain(int x) { return x ^ 0x55; }
__asm__(".symver foo_v1, foo@V1");
__asm__(".symver foo_v2, foo@@V2");
__asm__(".symver baz_v1, baz@V1");
__asm__(".symver baz_v2, baz@V2");
