// OpenMappedFile and the bounds of the ELF reader: the checks that keep a target from steering
// the daemon to another file, blocking it, or making it allocate what a file's headers claim.
#include "elf/mapped_file.h"

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"

namespace gilstat::probes {
namespace {

namespace fs = std::filesystem;

FileId IdOfPath(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return {major(st.st_dev), minor(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

std::string DevString(const FileId& id) {
  char b[32];
  std::snprintf(b, sizeof b, "%02x:%02x", id.dev_major, id.dev_minor);
  return b;
}

// A maps line for `path` (as the target would print it) claiming file `id`.
MapsEntry EntryFor(const std::string& path, const FileId& id) {
  MapsEntry e;
  e.start = 0x7f0000000000;
  e.end = 0x7f0000001000;
  e.perms = "r-xp";
  e.dev = DevString(id);
  e.inode = id.inode;
  e.path = path;
  return e;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/mapped_file_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }
  std::string dir_;
};

TEST(FileId, ParsesMapsDevice) {
  MapsEntry e;
  e.dev = "fd:01";
  e.inode = 42;
  auto id = FileIdOf(e);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->dev_major, 0xfdu);
  EXPECT_EQ(id->dev_minor, 1u);
  EXPECT_EQ(id->inode, 42u);
  e.dev = "fd";
  EXPECT_FALSE(FileIdOf(e).has_value());
  e.dev = "zz:01";
  EXPECT_FALSE(FileIdOf(e).has_value());
}

TEST_F(TempDir, VerifyAcceptsTheSameRegularFile) {
  const std::string p = Write("lib.so", "content");
  auto f = MappedFile::Verify(open(p.c_str(), O_PATH | O_CLOEXEC), p, IdOfPath(p));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->size(), 7u);
  auto bytes = f->ReadBytes(0, 7);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "content");
  // The path handed to uprobe attach names this very file.
  EXPECT_EQ(IdOfPath(f->path()), IdOfPath(p));
  EXPECT_EQ(f->ReadBytes(5, 3).status().code(), ErrorCode::kInvalidArgument);  // past the end
}

TEST_F(TempDir, VerifyRefusesAnotherInode) {
  const std::string a = Write("a.so", "a");
  const std::string b = Write("b.so", "b");
  auto f = MappedFile::Verify(open(b.c_str(), O_PATH | O_CLOEXEC), b, IdOfPath(a));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("not the mapped file"), std::string::npos)
      << f.status().message();
}

TEST_F(TempDir, VerifyRefusesFifoAndDirectoryWithoutOpeningThem) {
  const std::string fifo = dir_ + "/libc.so.6";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // O_PATH: opening a FIFO this way never blocks, and Verify refuses it before reading.
  auto f = MappedFile::Verify(open(fifo.c_str(), O_PATH | O_CLOEXEC), fifo, std::nullopt);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("FIFO"), std::string::npos) << f.status().message();
  auto d = MappedFile::Verify(open(dir_.c_str(), O_PATH | O_CLOEXEC), dir_, std::nullopt);
  EXPECT_EQ(d.status().code(), ErrorCode::kInvalidArgument);
  // A FIFO given as a local path (the gilstat tool's argument) is refused too, not waited on.
  EXPECT_EQ(OpenLocalFile(fifo).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ElfFile::Open(fifo).status().code(), ErrorCode::kInvalidArgument);
}

// A file this process maps, opened both through map_files and through the path.
TEST_F(TempDir, OpensWhatThisProcessMaps) {
  const std::string p = Write("mapped.so", std::string(4096, 'x'));
  const int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* m = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  ASSERT_NE(m, MAP_FAILED);
  auto maps = ReadProcMaps(getpid());
  ASSERT_TRUE(maps.ok());
  const MapsEntry* mine = nullptr;
  for (const MapsEntry& e : *maps) {
    if (e.start == reinterpret_cast<uint64_t>(m)) mine = &e;
  }
  ASSERT_NE(mine, nullptr);
  for (bool map_files : {true, false}) {
    MappedFileOptions o;
    o.map_files = map_files;
    auto f = OpenMappedFile(getpid(), *mine, o);
    ASSERT_TRUE(f.ok()) << "map_files=" << map_files << ": " << f.status().ToString();
    EXPECT_EQ(f->id(), IdOfPath(p));
    EXPECT_EQ(f->name(), fs::path(p).lexically_normal().string());
  }
  auto by_id = OpenMappedFileById(getpid(), IdOfPath(p));
  EXPECT_TRUE(by_id.ok()) << by_id.status().ToString();
  munmap(m, 4096);
  EXPECT_EQ(OpenMappedFileById(getpid(), IdOfPath(p)).status().code(), ErrorCode::kNotFound);
}

// The path fallback, in a fake /proc whose PID/root the target controls.
class FakeRoot : public TempDir {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    root_ = dir_ + "/proc/42/root";
    fs::create_directories(root_ + "/lib");
    options_.proc_root = dir_ + "/proc";
    options_.map_files = false;
  }
  std::string root_;
  MappedFileOptions options_;
};

TEST_F(FakeRoot, OpensTheFileInsideTheRoot) {
  const std::string lib = Write("proc/42/root/lib/libc.so.6", "libc");
  auto f = OpenMappedFile(42, EntryFor("/lib/libc.so.6", IdOfPath(lib)), options_);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->size(), 4u);
}

TEST_F(FakeRoot, RefusesAnotherFileAtThePath) {
  const std::string mapped = Write("mapped_elsewhere.so", "real");
  Write("proc/42/root/lib/libc.so.6", "swapped");
  auto f = OpenMappedFile(42, EntryFor("/lib/libc.so.6", IdOfPath(mapped)), options_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument) << f.status().ToString();
}

// A symbolic link to a host file is not followed, even when it leads to the right inode.
TEST_F(FakeRoot, RefusesSymbolicLinks) {
  const std::string host_file = Write("host_only.so", "host");
  fs::create_symlink(host_file, root_ + "/lib/libc.so.6");
  auto f = OpenMappedFile(42, EntryFor("/lib/libc.so.6", IdOfPath(host_file)), options_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument) << f.status().ToString();
}

// A FIFO at the path: refused at once (this test would hang if it were opened for reading).
TEST_F(FakeRoot, RefusesFifoWithoutBlocking) {
  ASSERT_EQ(mkfifo((root_ + "/lib/libc.so.6").c_str(), 0600), 0);
  const std::string some = Write("some.so", "x");
  auto f = OpenMappedFile(42, EntryFor("/lib/libc.so.6", IdOfPath(some)), options_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument) << f.status().ToString();
}

TEST_F(FakeRoot, DotDotStaysInsideTheRoot) {
  const std::string outside = Write("proc/42/secret.so", "secret");
  auto f = OpenMappedFile(42, EntryFor("/../secret.so", IdOfPath(outside)), options_);
  // Resolved inside the root, "/../secret.so" is "/secret.so" there: not the outside file.
  // (From this process's own root it names nothing either.)
  EXPECT_FALSE(f.ok());
}

// --- ELF bounds -----------------------------------------------------------------------------

long MaxRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// A sparse file of `file_size` bytes: an ELF64 header and one section header table at 4096
// with a null section and `sections` described by (type, size, offset).
std::string SparseElf(const std::string& path, uint64_t file_size,
                      const std::vector<Elf64_Shdr>& sections, uint16_t shnum_field) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_DYN;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_ehsize = sizeof eh;
  eh.e_shoff = 4096;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = shnum_field;
  EXPECT_EQ(pwrite(fd, &eh, sizeof eh, 0), static_cast<ssize_t>(sizeof eh));
  std::vector<Elf64_Shdr> table(1 + sections.size());
  std::copy(sections.begin(), sections.end(), table.begin() + 1);
  if (shnum_field == 0) table[0].sh_size = 50'000'000;  // extended numbering: 50 M sections
  EXPECT_EQ(pwrite(fd, table.data(), table.size() * sizeof(Elf64_Shdr), 4096),
            static_cast<ssize_t>(table.size() * sizeof(Elf64_Shdr)));
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(file_size)), 0);
  close(fd);
  return path;
}

Elf64_Shdr Section(uint32_t type, uint64_t size, uint64_t offset, uint32_t link = 0) {
  Elf64_Shdr s{};
  s.sh_type = type;
  s.sh_size = size;
  s.sh_offset = offset;
  s.sh_link = link;
  s.sh_entsize = type == SHT_SYMTAB ? sizeof(Elf64_Sym) : 0;
  return s;
}

TEST_F(TempDir, HugeSparseSectionsAreRefusedWithoutAllocating) {
  const uint64_t gib = uint64_t{1} << 30;
  const long before = MaxRssKb();
  // Sections inside the (sparse) file but far larger than any real table.
  const std::string big = SparseElf(
      dir_ + "/libpython3.99.so.1.0", 2 * gib,
      {Section(SHT_SYMTAB, 3 * gib / 2, 8192, 2), Section(SHT_STRTAB, gib / 4, 8192 + 3 * gib / 2)},
      3);
  auto elf = ElfFile::Open(big);
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(elf.status().message().find("larger than gilstat reads"), std::string::npos)
      << elf.status().message();
  // A section claimed past the end of the file.
  const std::string past =
      SparseElf(dir_ + "/libc.so.6", 1 << 20,
                {Section(SHT_DYNSYM, 4096, 1 << 20, 2), Section(SHT_STRTAB, 16, 8192)}, 3);
  auto e2 = ElfFile::Open(past);
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.status().message().find("outside the file"), std::string::npos)
      << e2.status().message();
  // Extended numbering claiming 50 million sections (libelf would allocate for each).
  const std::string many = SparseElf(dir_ + "/many.so", 4 * gib, {}, 0);
  auto e3 = ElfFile::Open(many);
  ASSERT_FALSE(e3.ok());
  EXPECT_NE(e3.status().message().find("50000000 sections"), std::string::npos)
      << e3.status().message();
  EXPECT_LT(MaxRssKb() - before, 16 * 1024) << "peak RSS grew by more than 16 MB";
}

// Real files pass the bounds: this test program, libc, every pyenv libpython there is.
TEST(ElfBounds, RealFilesPass) {
  std::vector<std::string> files = {"/proc/self/exe"};
  auto libc = FindLibc(getpid());
  ASSERT_TRUE(libc.ok());
  files.push_back(libc->path);
  std::error_code ec;
  for (const auto& v : fs::directory_iterator("/root/.pyenv/versions", ec)) {
    for (const auto& f : fs::directory_iterator(v.path() / "lib", ec)) {
      if (f.path().filename().string().starts_with("libpython") &&
          f.path().string().ends_with(".so.1.0")) {
        files.push_back(f.path());
      }
    }
  }
  for (const std::string& p : files) {
    auto f = OpenLocalFile(p);
    ASSERT_TRUE(f.ok()) << p << ": " << f.status().ToString();
    EXPECT_TRUE(CheckElfBounds(*f).ok()) << CheckElfBounds(*f).ToString();
    EXPECT_TRUE(ElfFile::Open(p).ok()) << p;
  }
}

}  // namespace
}  // namespace gilstat::probes
