#include "python/python_info.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "elf/elf_symbols.h"

namespace gilstat::python {
namespace {

namespace fs = std::filesystem;
using Kind = InterpreterInfo::Kind;

constexpr const char* kDebianPython = "/usr/bin/python3";
constexpr const char* kPyenv = "/root/.pyenv/versions";

bool Exists(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// "3.11.2": what the interpreter itself says (the truth the file inspection must match).
std::string AskVersion(const std::string& python) {
  const std::string cmd =
      python + " -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  char buf[64] = {};
  std::string out = fgets(buf, sizeof(buf), p) ? buf : "";
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string Describe(const InterpreterInfo& i) {
  std::string s = i.VersionString() + " (" + VersionSourceName(i.version_source) +
                  ") binary=" + i.binary + " stripped=" + (i.stripped ? "yes" : "no") +
                  " free_threaded=" + (i.free_threaded ? "yes" : "no") +
                  " debug_offsets=" + (i.has_debug_offsets ? "yes" : "no") + " symbols:";
  for (const auto& [name, sym] : i.symbols) s += " " + name;
  return s + " | method: " + i.method;
}

// The uprobe offset points at the function's first instruction: a push (after an optional
// endbr64), as on every build checked.
void ExpectStartsWithPush(const InterpreterInfo& info, const std::string& fn) {
  ASSERT_TRUE(info.has(fn)) << fn;
  const SymbolInfo& s = info.symbols.at(fn);
  EXPECT_TRUE(s.function);
  EXPECT_NE(s.file_offset, 0u);
  auto elf = probes::ElfFile::Open(info.binary);
  ASSERT_TRUE(elf.ok()) << elf.status().ToString();
  auto bytes = elf->ReadBytes(s.file_offset, 6);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  size_t i = 0;
  if ((*bytes)[0] == 0xf3 && (*bytes)[1] == 0x0f && (*bytes)[2] == 0x1e && (*bytes)[3] == 0xfa) {
    i = 4;
  }
  const uint8_t b0 = (*bytes)[i], b1 = (*bytes)[i + 1];
  const bool push = (b0 >= 0x50 && b0 <= 0x57) || (b0 == 0x41 && b1 >= 0x50 && b1 <= 0x57);
  EXPECT_TRUE(push) << fn << " starts with 0x" << std::hex << int{b0} << " 0x" << int{b1};
}

TEST(PythonAbiName, Parses) {
  int major = 0, minor = 0;
  std::string flags;
  EXPECT_TRUE(ParsePythonAbiName("libpython3.13t.so.1.0", major, minor, flags));
  EXPECT_EQ(major, 3);
  EXPECT_EQ(minor, 13);
  EXPECT_EQ(flags, "t");
  EXPECT_TRUE(ParsePythonAbiName("python3.6m", major, minor, flags));
  EXPECT_EQ(minor, 6);
  EXPECT_EQ(flags, "m");
  EXPECT_TRUE(ParsePythonAbiName("libpython2.7.so", major, minor, flags));
  EXPECT_EQ(major, 2);
  EXPECT_EQ(flags, "");
  EXPECT_TRUE(ParsePythonAbiName("python3.13td", major, minor, flags));
  EXPECT_EQ(flags, "td");
  EXPECT_FALSE(ParsePythonAbiName("python3", major, minor, flags));
  EXPECT_FALSE(ParsePythonAbiName("libpython3.so", major, minor, flags));
  EXPECT_FALSE(ParsePythonAbiName("python3.11-config", major, minor, flags));
  EXPECT_FALSE(ParsePythonAbiName("libc.so.6", major, minor, flags));
  EXPECT_FALSE(ParsePythonAbiName("python4.0", major, minor, flags));
}

TEST(InspectBinary, NotPython) {
  auto info = InspectBinary("/bin/true");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, Kind::kNotPython);
  EXPECT_TRUE(info->symbols.empty());
}

TEST(InspectBinary, Errors) {
  auto missing = InspectBinary("/nonexistent/python3.11");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  const fs::path text = fs::path(testing::TempDir()) / "python_info_not_elf";
  std::ofstream(text) << "#!/bin/sh\n";
  auto not_elf = InspectBinary(text);
  ASSERT_FALSE(not_elf.ok());
  EXPECT_EQ(not_elf.error().code, ErrorCode::kInvalidArgument);
  fs::remove(text);
}

TEST(InspectBinary, SyntheticFreeThreaded) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON_FT);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, Kind::kCPython);
  EXPECT_EQ(info->VersionString(), "3.13.1");
  EXPECT_EQ(info->version_source, VersionSource::kPyVersion);
  EXPECT_TRUE(info->free_threaded);
  EXPECT_EQ(info->free_threaded_marker, "_Py_MergeZeroLocalRefcount");
  EXPECT_TRUE(info->has_debug_offsets);
  EXPECT_TRUE(info->has("_PyRuntime"));
  EXPECT_TRUE(info->symbols.at("_PyRuntime").dynamic);
  EXPECT_FALSE(info->has("take_gil"));
  EXPECT_EQ(info->gil_method, GilMethod::kGilCondvar);
  EXPECT_NE(info->method.find("_Py_DebugOffsets"), std::string::npos) << info->method;
  EXPECT_NE(info->method.find("free-threaded"), std::string::npos) << info->method;
}

TEST(InspectBinary, SyntheticOldLayoutVersionFromRodataTail) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON39);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, Kind::kCPython);
  // "3.2.0" is in .rodata too; the ABI name (SONAME libpython3.9.so) selects 3.9.x.
  EXPECT_EQ(info->VersionString(), "3.9.18");
  EXPECT_EQ(info->version_source, VersionSource::kRodataAndAbiName);
  EXPECT_FALSE(info->free_threaded);
  EXPECT_FALSE(info->has_debug_offsets);
  EXPECT_EQ(info->gil_method, GilMethod::kNone);
}

TEST(InspectBinary, DebianPython3) {
  if (!Exists(kDebianPython)) GTEST_SKIP() << kDebianPython << " not installed";
  auto info = InspectBinary(kDebianPython);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  std::printf("%s: %s\n", kDebianPython, Describe(*info).c_str());
  ASSERT_EQ(info->kind, Kind::kCPython);
  EXPECT_EQ(info->VersionString(), AskVersion(kDebianPython));
  EXPECT_EQ(info->binary, kDebianPython);  // the interpreter is in the executable
  if (!info->stripped) GTEST_SKIP() << "this " << kDebianPython << " is not stripped";
  EXPECT_FALSE(info->has("take_gil"));
  EXPECT_FALSE(info->free_threaded);
  ASSERT_TRUE(info->has("_PyRuntime")) << "Debian exports _PyRuntime in .dynsym";
  EXPECT_TRUE(info->symbols.at("_PyRuntime").dynamic);
  EXPECT_FALSE(info->symbols.at("_PyRuntime").function);
  EXPECT_EQ(info->gil_method, GilMethod::kGilCondvar);
}

// Every pyenv interpreter present: the version the interpreter reports, and on unstripped builds
// the symbols the GIL probes use.
TEST(InspectBinary, PyenvInterpreters) {
  std::error_code ec;
  fs::directory_iterator versions(kPyenv, ec);
  if (ec) GTEST_SKIP() << kPyenv << ": " << ec.message() << ": no pyenv interpreters";
  int checked = 0;
  for (const auto& dir : versions) {
    const std::string v = dir.path().filename();
    const std::string mm = v.substr(0, v.rfind('.'));  // "3.12.1" -> "3.12"
    const std::string exe = dir.path() / "bin" / ("python" + mm);
    if (!Exists(exe)) continue;
    SCOPED_TRACE(exe);
    auto info = InspectBinary(exe);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    std::printf("%s: %s\n", exe.c_str(), Describe(*info).c_str());
    ASSERT_EQ(info->kind, Kind::kCPython);
    EXPECT_EQ(info->VersionString(), AskVersion(exe));
    EXPECT_FALSE(info->free_threaded);
    ++checked;
    if (info->stripped) continue;
    if (info->major == 2) {
      ASSERT_TRUE(info->has("interpreter_lock"));
      EXPECT_FALSE(info->symbols.at("interpreter_lock").function);
      EXPECT_EQ(info->gil_method, GilMethod::kInterpreterLock);
    } else {
      ExpectStartsWithPush(*info, "take_gil");
      ExpectStartsWithPush(*info, "drop_gil");
      EXPECT_EQ(info->gil_method, GilMethod::kTakeGil);
      EXPECT_EQ(info->has_debug_offsets, info->minor >= 13);
      EXPECT_EQ(info->has("Py_Version"), info->minor >= 11);
    }
  }
  if (checked == 0) GTEST_SKIP() << "no interpreter under " << kPyenv;
}

TEST(InspectBinary, Pyenv27FollowsLibpython) {
  const std::string exe = std::string(kPyenv) + "/2.7.18/bin/python2.7";
  if (!Exists(exe)) GTEST_SKIP() << exe << " not installed";
  auto info = InspectBinary(exe);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->VersionString(), "2.7.18");
  EXPECT_EQ(fs::path(info->binary).filename(), "libpython2.7.so.1.0");
  EXPECT_FALSE(info->stripped);
  ASSERT_TRUE(info->has("interpreter_lock"));
  EXPECT_EQ(info->symbols.at("interpreter_lock").file_offset, 0u) << "a .bss pointer";
  EXPECT_NE(info->symbols.at("interpreter_lock").value, 0u);
}

TEST(RipRelativeLoadTarget, DecodesMovToRdi) {
  // mov 0x107bb9(%rip),%rdi at 0xef950: loads from 0xef957 + 0x107bb9.
  const std::vector<uint8_t> code = {0x48, 0x8b, 0x3d, 0xb9, 0x7b, 0x10, 0x00, 0xe9};
  EXPECT_EQ(RipRelativeLoadTarget(code, 0xef950), 0x1f7510u);
  std::vector<uint8_t> endbr = {0xf3, 0x0f, 0x1e, 0xfa};
  endbr.insert(endbr.end(), code.begin(), code.end());
  EXPECT_EQ(RipRelativeLoadTarget(endbr, 0xef950), 0x1f7510u + 4);
  // A negative displacement.
  const std::vector<uint8_t> back = {0x48, 0x8b, 0x3d, 0xf9, 0xff, 0xff, 0xff};
  EXPECT_EQ(RipRelativeLoadTarget(back, 0x1000), 0x1000u);
  // Other code: a push, a load into another register, too short.
  EXPECT_FALSE(RipRelativeLoadTarget(std::vector<uint8_t>{0x53, 0x31, 0xff}, 0x1000));
  EXPECT_FALSE(RipRelativeLoadTarget(std::vector<uint8_t>{0x48, 0x8b, 0x05, 0, 0, 0, 0}, 0));
  EXPECT_FALSE(RipRelativeLoadTarget(std::vector<uint8_t>{0x48, 0x8b, 0x3d, 0}, 0));
}

// The stripped-2.x fallback gives what .symtab says, on a real libpython2.7.
TEST(RipRelativeLoadTarget, PyEvalReleaseLockGivesInterpreterLock) {
  const std::string lib = std::string(kPyenv) + "/2.7.18/lib/libpython2.7.so.1.0";
  if (!Exists(lib)) GTEST_SKIP() << lib << " not installed";
  auto elf = probes::ElfFile::Open(lib);
  ASSERT_TRUE(elf.ok());
  auto fn = elf->FindFunction("PyEval_ReleaseLock");
  ASSERT_TRUE(fn.ok());
  auto code = elf->ReadBytes(fn->file_offset, 16);
  ASSERT_TRUE(code.ok());
  auto info = InspectBinary(lib);
  ASSERT_TRUE(info.ok() && info->has("interpreter_lock"));
  EXPECT_EQ(RipRelativeLoadTarget(*code, fn->value), info->symbols.at("interpreter_lock").value);
}

TEST(InspectBinary, Pyenv313DebugOffsets) {
  const std::string exe = std::string(kPyenv) + "/3.13.0/bin/python3.13";
  if (!Exists(exe)) GTEST_SKIP() << exe << " not installed";
  auto info = InspectBinary(exe);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->VersionString(), "3.13.0");
  EXPECT_TRUE(info->has_debug_offsets);
  EXPECT_TRUE(info->has("_PyRuntime"));
  EXPECT_EQ(info->gil_method, GilMethod::kTakeGil);
}

// A child that has exec'd `argv` (the close-on-exec pipe reports the exec) and sleeps.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    char c;
    while (read(fds[0], &c, 1) > 0) {
    }
    close(fds[0]);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

void ExpectLiveProcess(const std::string& python, const std::string& binary_name) {
  if (!Exists(python)) GTEST_SKIP() << python << " not installed";
  Child child({python, "-c", "import time; time.sleep(30)"});
  ASSERT_GT(child.pid(), 0);
  const std::string root = "/proc/" + std::to_string(child.pid()) + "/root";
  // The dynamic loader maps libpython after exec: wait for the interpreter to be in place.
  Result<InterpreterInfo> info = MakeError(ErrorCode::kInternal, "not run");
  for (int i = 0; i < 200; ++i) {
    info = InspectProcess(child.pid());
    if (info.ok() && info->kind == Kind::kCPython) break;
    usleep(10000);
  }
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  std::printf("pid %d (%s): %s\n", child.pid(), python.c_str(), Describe(*info).c_str());
  ASSERT_EQ(info->kind, Kind::kCPython);
  EXPECT_EQ(info->VersionString(), AskVersion(python));
  EXPECT_TRUE(info->binary.starts_with(root)) << info->binary;
  EXPECT_EQ(fs::path(info->binary).filename(), binary_name);
}

TEST(InspectProcess, DebianPython3) { ExpectLiveProcess(kDebianPython, "python3.11"); }

TEST(InspectProcess, Pyenv312MapsLibpython) {
  ExpectLiveProcess(std::string(kPyenv) + "/3.12.1/bin/python3.12", "libpython3.12.so.1.0");
}

TEST(InspectProcess, NoSuchProcess) {
  auto info = InspectProcess(999999999);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kNotFound);
}

// A process in another mount namespace: its libpython is reached through PROC_ROOT/PID/root.
TEST(InspectProcess, FakeProcRootFindsMappedLibpython) {
  const fs::path proc = fs::path(testing::TempDir()) / "python_info_proc";
  fs::remove_all(proc);
  fs::create_directories(proc / "4242" / "root" / "usr" / "lib");
  fs::copy_file(GILSTAT_FAKE_PYTHON_FT,
                proc / "4242" / "root" / "usr" / "lib" / "libpython3.13t.so.1.0");
  fs::create_symlink("/usr/bin/python3.13t", proc / "4242" / "exe");
  std::ofstream(proc / "4242" / "maps")
      << "55d0c0a00000-55d0c0a02000 r-xp 00000000 fd:01 11 /usr/bin/python3.13t\n"
         "7f0000000000-7f0000001000 r-xp 00000000 fd:01 12 /usr/lib/libpython3.so\n"
         "7f0000100000-7f0000200000 r-xp 00000000 fd:01 13 /usr/lib/libpython3.13t.so.1.0\n";
  auto info = InspectProcess(4242, proc.string());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, Kind::kCPython);
  EXPECT_EQ(info->binary, (proc / "4242" / "root" / "usr" / "lib" / "libpython3.13t.so.1.0"));
  EXPECT_TRUE(info->free_threaded);
  EXPECT_EQ(info->VersionString(), "3.13.1");
  fs::remove_all(proc);
}

// A mapped libpython that cannot be read is an error, not "not Python".
TEST(InspectProcess, FakeProcRootUnreadableLibpythonIsAnError) {
  const fs::path proc = fs::path(testing::TempDir()) / "python_info_proc_missing";
  fs::remove_all(proc);
  fs::create_directories(proc / "4243" / "root");
  fs::create_symlink("/usr/bin/python3.12", proc / "4243" / "exe");
  std::ofstream(proc / "4243" / "maps")
      << "7f0000100000-7f0000200000 r-xp 00000000 fd:01 13 /usr/lib/libpython3.12.so.1.0\n";
  auto info = InspectProcess(4243, proc.string());
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kNotFound);
  EXPECT_NE(info.error().message.find("libpython3.12.so.1.0"), std::string::npos)
      << info.error().message;
  fs::remove_all(proc);
}

}  // namespace
}  // namespace gilstat::python
