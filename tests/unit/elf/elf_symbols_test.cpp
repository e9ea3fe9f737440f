#include "elf/elf_symbols.h"

#include <unistd.h>

#include <dlfcn.h>
#include <gnu/libc-version.h>

#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "elf/proc_maps.h"

namespace gilstat::probes {
namespace {

extern "C" __attribute__((noinline, used)) int gilstat_probe_test_function(int x) {
  return x * 31 + 17;
}

// The file's bytes at the resolved offset are the code the process runs.
void ExpectSameCode(const ElfFile& elf, const ElfSymbol& sym, const void* in_memory) {
  ASSERT_NE(in_memory, nullptr) << sym.name << ": not found in memory";
  auto bytes = elf.ReadBytes(sym.file_offset, 8);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(std::memcmp(bytes->data(), in_memory, 8), 0) << sym.name << "@" << sym.version;
}

TEST(ElfSymbols, PrefersDefaultVersion) {
  auto elf = ElfFile::Open(GILSTAT_VERSIONED_LIB);
  ASSERT_TRUE(elf.ok()) << elf.status().ToString();
  auto foo = elf->FindFunction("foo");
  ASSERT_TRUE(foo.ok()) << foo.status().ToString();
  EXPECT_EQ(foo->version, "V2");
  EXPECT_TRUE(foo->default_version);

  void* h = dlopen(GILSTAT_VERSIONED_LIB, RTLD_NOW);
  ASSERT_NE(h, nullptr) << dlerror();
  ExpectSameCode(*elf, *foo, dlvsym(h, "foo", "V2"));

  auto v1 = elf->FindFunction("foo@V1");
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_FALSE(v1->default_version);
  EXPECT_NE(v1->value, foo->value);
  ExpectSameCode(*elf, *v1, dlvsym(h, "foo", "V1"));

  auto v2 = elf->FindFunction("foo@@V2");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->value, foo->value);
  EXPECT_FALSE(elf->FindFunction("foo@@V1").ok());  // V1 is not the default

  auto plain = elf->FindFunction("plain");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  ExpectSameCode(*elf, *plain, dlsym(h, "plain"));
  dlclose(h);
}

TEST(ElfSymbols, OnlyNonDefaultVersionsAtDifferentAddressesAreAmbiguous) {
  auto elf = ElfFile::Open(GILSTAT_VERSIONED_LIB);
  ASSERT_TRUE(elf.ok());
  auto baz = elf->FindFunction("baz");
  ASSERT_FALSE(baz.ok());
  EXPECT_EQ(baz.error().code, ErrorCode::kNotFound);
  EXPECT_NE(baz.error().message.find("ambiguous"), std::string::npos) << baz.error().message;
  EXPECT_TRUE(elf->FindFunction("baz@V1").ok());
}

TEST(ElfSymbols, MissingFunctionAndBadFiles) {
  auto elf = ElfFile::Open(GILSTAT_VERSIONED_LIB);
  ASSERT_TRUE(elf.ok());
  EXPECT_EQ(elf->FindFunction("no_such_function").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ElfFile::Open("/nonexistent/lib.so").status().code(), ErrorCode::kNotFound);
  const std::string text = ::testing::TempDir() + "/not_elf.txt";
  std::ofstream(text) << "hello, not an ELF file\n";
  EXPECT_EQ(ElfFile::Open(text).status().code(), ErrorCode::kInvalidArgument);
}

// The test executable itself (PIE or not, depending on the build): .symtab functions resolve to
// the bytes that run.
TEST(ElfSymbols, ExecutableSymtab) {
  auto elf = ElfFile::Open("/proc/self/exe");
  ASSERT_TRUE(elf.ok()) << elf.status().ToString();
  auto f = elf->FindFunction("gilstat_probe_test_function");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ExpectSameCode(*elf, *f, reinterpret_cast<const void*>(&gilstat_probe_test_function));
  EXPECT_EQ(gilstat_probe_test_function(1), 48);
}

// glibc >= 2.34 on x86-64 exports sem_wait twice (GLIBC_2.2.5 and the default GLIBC_2.34).
TEST(ElfSymbols, GlibcSemWaitVersions) {
  // The libc this process maps (dlsym(RTLD_DEFAULT) may find a sanitizer's interceptor).
  auto libc = FindLibc(getpid());
  ASSERT_TRUE(libc.ok()) << libc.status().ToString();
  void* h = dlopen(libc->path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << dlerror();
  void* sem_wait_addr = dlsym(h, "sem_wait");
  auto file = OpenMappedFile(getpid(), libc->entry);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto elf = ElfFile::Open(std::move(file).value());
  ASSERT_TRUE(elf.ok()) << elf.status().ToString();
  auto s = elf->FindFunction("sem_wait");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->default_version);
  ExpectSameCode(*elf, *s, sem_wait_addr);
#if defined(__x86_64__)
  int major = 0, minor = 0;
  std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor);
  if (major == 2 && minor >= 34) {
    EXPECT_EQ(s->version, "GLIBC_2.34");
    auto old = elf->FindFunction("sem_wait@GLIBC_2.2.5");
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    EXPECT_EQ(old->value, s->value);
  }
#endif
  dlclose(h);
}

}  // namespace
}  // namespace gilstat::probes
