#include "naming.h"

#include <gtest/gtest.h>

namespace gilstat {
namespace {

tracker::ProcessInfo Info(pid_t pid, std::string comm, std::string exe, std::string cgroup) {
  tracker::ProcessInfo i;
  i.pid = pid;
  i.comm = std::move(comm);
  i.exe = std::move(exe);
  i.cgroup = std::move(cgroup);
  i.fields = tracker::kProcStat | tracker::kProcComm | tracker::kProcExe | tracker::kProcCgroup;
  return i;
}

TEST(ExpandGroupTemplate, Placeholders) {
  const auto i = Info(42, "python3", "/usr/bin/python3.11", "/system.slice/web.service");
  EXPECT_EQ(ExpandGroupTemplate("{comm}", i), "python3");
  EXPECT_EQ(ExpandGroupTemplate("{exe}", i), "python3.11");
  EXPECT_EQ(ExpandGroupTemplate("{unit}/{comm}", i), "web.service/python3");
  EXPECT_EQ(ExpandGroupTemplate("p{pid}", i), "p42");
  EXPECT_EQ(ExpandGroupTemplate("{unit}", Info(1, "x", "", "/")), "none");
  EXPECT_EQ(ExpandGroupTemplate("{exe}", Info(1, "kthread", "", "")), "kthread");
}

TEST(Naming, GroupsFollowAttachDetachAndRelabel) {
  Naming n({"{comm}", false}, "/nonexistent");
  n.Attached(Info(10, "python3", "/usr/bin/python3", "/system.slice/a.service"));
  EXPECT_EQ(n.GroupOf(10), "python3");
  EXPECT_FALSE(n.GroupOf(11).has_value());
  n.SetLabels({"{unit}", true});
  EXPECT_EQ(n.GroupOf(10), "a.service");
  EXPECT_TRUE(n.ForCollector().pid_label);
  n.Detaching(Info(10, "python3", "", ""), true);
  EXPECT_FALSE(n.GroupOf(10).has_value());
}

TEST(Naming, RuntimeLocksAreNamedOnlyInTheirProcess) {
  Naming n({"{comm}", false}, "/nonexistent");
  rt::Snapshot snap;
  snap.gil.addresses.push_back({"sem_t", "gil", 0x1000});
  rt::LockSnapshot l;
  l.name = "convoy";
  l.addresses.push_back({"sem_t", "lock", 0x2000});
  snap.locks.push_back(l);
  n.SetRuntimeLocks(7, snap);
  EXPECT_EQ(n.LockOf(7, 0x1000), "gil");
  EXPECT_EQ(n.LockOf(7, 0x2000), "convoy");
  EXPECT_EQ(n.LockOf(7, 0x3000), "other");
  EXPECT_EQ(n.LockOf(8, 0x1000), "other");
  n.ClearRuntimeLocks();
  EXPECT_EQ(n.LockOf(7, 0x1000), "other");
}

}  // namespace
}  // namespace gilstat
