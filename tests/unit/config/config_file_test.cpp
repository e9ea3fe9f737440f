// Files an operator names: the configuration file and a basic-auth password_file are read only
// when they are regular files of bounded size, and never block (config/config_file.h).
#include "config/config_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/config.h"

namespace gilstat::config {
namespace {

using ::testing::HasSubstr;

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    // A FIFO that blocked an open would hang the test: SIGALRM ends it (a failure) instead.
    alarm(20);
    char tmpl[] = "/tmp/gilstat-cfgfile-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    alarm(0);
    std::filesystem::remove_all(dir_);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string Fifo() {
    const std::string path = dir_ + "/fifo";
    EXPECT_EQ(mkfifo(path.c_str(), 0600), 0);
    return path;
  }
  std::string ErrorOf(const std::string& path) {
    auto c = LoadConfigFile(path);
    return c.ok() ? "(loaded)" : c.error().message;
  }
  // The error of a configuration whose basic_auth reads `password_file` (line 4, column 20).
  std::string PasswordError(const std::string& password_file) {
    const std::string cfg = Write(
        "auth.yml",
        "web:\n  basic_auth:\n    username: prom\n    password_file: " + password_file + "\n");
    return ErrorOf(cfg);
  }
  std::string dir_;
};

TEST_F(ConfigFile, ARegularFileIsRead) {
  auto c = LoadConfigFile(Write("ok.yml", "targets:\n  - comm: python3\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->targets.size(), 1u);
}

TEST_F(ConfigFile, AFifoIsRefusedWithoutWaitingForAWriter) {
  const std::string fifo = Fifo();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ErrorOf(fifo), fifo + " is a FIFO, not a regular file");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(ConfigFile, DevicesAndDirectoriesAreRefusedByName) {
  EXPECT_EQ(ErrorOf("/dev/zero"), "/dev/zero is a character device, not a regular file");
  EXPECT_EQ(ErrorOf(dir_), dir_ + " is a directory, not a regular file");
}

TEST_F(ConfigFile, OpenFailuresCarryTheSystemsReason) {
  const std::string file = Write("plain", "x");
  EXPECT_EQ(ErrorOf(file + "/gilstatd.yml"),
            "cannot open " + file + "/gilstatd.yml: Not a directory");
  EXPECT_EQ(ErrorOf(dir_ + "/missing.yml"),
            "cannot open " + dir_ + "/missing.yml: No such file or directory");
  auto r = ReadRegularFile(dir_ + "/missing.yml", 10, "a test file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(ConfigFile, AFileOverTheLimitIsRefused) {
  const std::string big = Write("big.yml", "#" + std::string(kMaxConfigFileBytes, 'x') + "\n");
  EXPECT_EQ(ErrorOf(big), big + " is larger than 1048576 bytes, the limit of a configuration file");
  // Exactly at the limit is fine.
  const std::string edge =
      Write("edge.yml", "#" + std::string(kMaxConfigFileBytes - 2, 'x') + "\n");
  EXPECT_EQ(ErrorOf(edge), "(loaded)");
}

TEST_F(ConfigFile, TheLimitHoldsWhileReading) {
  // A /proc file is regular but its size says 0: only the read finds out how long it is.
  struct stat st {};
  ASSERT_EQ(stat("/proc/self/status", &st), 0);
  ASSERT_EQ(st.st_size, 0);
  auto r = ReadRegularFile("/proc/self/status", 64, "a test file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "/proc/self/status is larger than 64 bytes, the limit of a test file");
  auto all = ReadRegularFile("/proc/self/status", 1 << 16, "a test file");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_THAT(*all, HasSubstr("Name:"));
}

TEST_F(ConfigFile, APasswordFileIsBoundedAndRegularToo) {
  const std::string pw = Write("pw", "s3cret\nignored\n");
  auto c = LoadConfigFile(Write("auth-ok.yml",
                                "web:\n  basic_auth:\n    username: prom\n"
                                "    password_file: " +
                                    pw + "\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->web.basic_auth->password, "s3cret");

  const std::string at = dir_ + "/auth.yml:4:20: password_file: ";
  const std::string fifo = Fifo();
  EXPECT_EQ(PasswordError(fifo), at + fifo + " is a FIFO, not a regular file");
  EXPECT_EQ(PasswordError("/dev/zero"), at + "/dev/zero is a character device, not a regular file");
  const std::string big = Write("bigpw", std::string(kMaxPasswordFileBytes + 1, 'p'));
  EXPECT_EQ(PasswordError(big),
            at + big + " is larger than 4096 bytes, the limit of a password_file");
  EXPECT_EQ(PasswordError(pw + "/x"), at + "cannot open " + pw + "/x: Not a directory");
}

}  // namespace
}  // namespace gilstat::config
