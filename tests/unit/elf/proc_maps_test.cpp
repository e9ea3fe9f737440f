#include "elf/proc_maps.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace gilstat::probes {
namespace {

constexpr const char* kMaps =
    "55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234 /usr/bin/my prog\n"
    "7f0000000000-7f0000022000 r--p 00000000 fd:01 5555 /lib/x86_64-linux-gnu/libc.so.6\n"
    "7f0000022000-7f0000197000 r-xp 00022000 fd:01 5555 /lib/x86_64-linux-gnu/libc.so.6\n"
    "7f0000200000-7f0000201000 rw-p 00000000 00:00 0 \n"
    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n";

TEST(ProcMaps, ParsesLines) {
  auto m = ParseMaps(kMaps);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 5u);
  EXPECT_EQ((*m)[0].path, "/usr/bin/my prog");
  EXPECT_EQ((*m)[2].start, 0x7f0000022000u);
  EXPECT_EQ((*m)[2].end, 0x7f0000197000u);
  EXPECT_EQ((*m)[2].offset, 0x22000u);
  EXPECT_EQ((*m)[2].perms, "r-xp");
  EXPECT_EQ((*m)[2].inode, 5555u);
  EXPECT_EQ((*m)[3].path, "");
  EXPECT_EQ((*m)[4].path, "[stack]");
}

TEST(ProcMaps, MalformedLineNamed) {
  auto m = ParseMaps("7f00-7f01 r-xp 0 fd:01 1 /a\nnot a maps line\n");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(m.error().message.find("line 2"), std::string::npos) << m.error().message;
}

TEST(ProcMaps, LibcNames) {
  EXPECT_TRUE(IsLibcPath("/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(IsLibcPath("/usr/lib64/libc-2.17.so"));
  EXPECT_TRUE(IsLibcPath("/lib/ld-musl-x86_64.so.1"));
  EXPECT_FALSE(IsLibcPath("/usr/lib/libcurl.so.4"));
  EXPECT_FALSE(IsLibcPath("/usr/lib/libc-client.so"));
  EXPECT_FALSE(IsLibcPath("/lib/x86_64-linux-gnu/libcap.so.2"));
  EXPECT_FALSE(IsLibcPath("/usr/lib/libcrypt.so.1"));
}

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/fakeproc_" + std::to_string(getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void AddProcess(int pid, const std::string& maps) {
    std::filesystem::create_directories(root_ + "/" + std::to_string(pid));
    std::ofstream(root_ + "/" + std::to_string(pid) + "/maps") << maps;
    std::ofstream(root_ + "/" + std::to_string(pid) + "/stat") << pid << " (x) S\n";
  }
  std::string root_;
};

TEST_F(FakeProc, FindsLibcMapping) {
  AddProcess(42, kMaps);
  auto libc = FindLibc(42, root_);
  ASSERT_TRUE(libc.ok()) << libc.status().ToString();
  EXPECT_EQ(libc->path, "/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(libc->inode, 5555u);
  EXPECT_EQ(libc->entry.path, libc->path);
  EXPECT_EQ(libc->entry.inode, 5555u);
}

TEST_F(FakeProc, StaticProgramHasNoLibc) {
  AddProcess(43, "00400000-00401000 r-xp 00000000 fd:01 77 /usr/bin/static\n");
  auto libc = FindLibc(43, root_);
  ASSERT_FALSE(libc.ok());
  EXPECT_EQ(libc.error().code, ErrorCode::kNotFound);
  EXPECT_NE(libc.error().message.find("no libc"), std::string::npos);
}

// Just after exec a dynamically linked program maps only itself and its loader: that is not a
// statically linked program, and the message says so (AT_BASE of its auxiliary vector).
TEST_F(FakeProc, AProgramWhoseLoaderHasNotMappedLibcIsNotCalledStatic) {
  const std::string maps =
      "00400000-00401000 r-xp 00000000 fd:01 77 /usr/bin/sleep\n"
      "7f0000001000-7f0000002000 r-xp 00000000 fd:01 78 /lib64/ld-linux-x86-64.so.2\n";
  for (bool dynamic : {true, false}) {
    AddProcess(45, maps);
    const uint64_t auxv[] = {7, dynamic ? 0x7f0000001000u : 0u, 0, 0};  // AT_BASE, AT_NULL
    std::ofstream(root_ + "/45/auxv", std::ios::binary)
        .write(reinterpret_cast<const char*>(auxv), sizeof(auxv));
    auto libc = FindLibc(45, root_);
    ASSERT_FALSE(libc.ok());
    EXPECT_EQ(libc.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(libc.error().message.find("statically linked") == std::string::npos, dynamic)
        << libc.error().message;
    EXPECT_EQ(libc.error().message.find("has not mapped libc yet") != std::string::npos, dynamic)
        << libc.error().message;
  }
}

TEST_F(FakeProc, DeletedLibcIsSkipped) {
  AddProcess(44, "7f00-7f01 r-xp 0 fd:01 1 /lib/libc.so.6 (deleted)\n");
  EXPECT_EQ(FindLibc(44, root_).status().code(), ErrorCode::kNotFound);
}

TEST_F(FakeProc, KernelThreadHasNoMappings) {
  AddProcess(2, "");
  auto libc = FindLibc(2, root_);
  ASSERT_FALSE(libc.ok());
  EXPECT_NE(libc.error().message.find("no memory mappings"), std::string::npos);
}

TEST_F(FakeProc, NoSuchProcess) {
  auto libc = FindLibc(99999, root_);
  ASSERT_FALSE(libc.ok());
  EXPECT_EQ(libc.error().code, ErrorCode::kNotFound);
  EXPECT_NE(libc.error().message.find("no process with pid 99999"), std::string::npos)
      << libc.error().message;
}

TEST(ProcMaps, UnreadableMapsIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any maps file";
  const std::string root = ::testing::TempDir() + "/fakeproc_perm_" + std::to_string(getpid());
  std::filesystem::create_directories(root + "/7");
  std::ofstream(root + "/7/maps") << kMaps;
  chmod((root + "/7/maps").c_str(), 0);
  EXPECT_EQ(FindLibc(7, root).status().code(), ErrorCode::kPermissionDenied);
  std::filesystem::remove_all(root);
}

TEST(ProcMaps, OwnProcess) {
  auto libc = FindLibc(getpid());
  ASSERT_TRUE(libc.ok()) << libc.status().ToString();
  EXPECT_TRUE(IsLibcPath(libc->path));
  EXPECT_TRUE(std::filesystem::exists(libc->path)) << libc->path;
}

}  // namespace
}  // namespace gilstat::probes
