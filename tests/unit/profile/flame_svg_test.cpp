#include "profile/flame_svg.h"

#include <gtest/gtest.h>

namespace gilstat::profile {
namespace {

ProcessGilStacks Sample() {
  ProcessGilStacks p;
  p.pid = 9;
  p.comm = "app<1>";
  const PyStackNames waiter{{{"waiter", "/a.py", 3}, {"main", "/a.py", 1}}, false};
  const PyStackNames hog{{{"hog & co", "/a.py", 7}}, false};
  p.pairs = {{waiter, hog, 3000000, 3}};
  p.total_wait_ns = 3000000;
  return p;
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(FlameSvg, BothGraphsEveryFrameOnceEscaped) {
  const std::string svg = FlameSvg({Sample()});
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("GIL wait by the stacks that waited"), std::string::npos);
  EXPECT_NE(svg.find("(blame)"), std::string::npos);
  // Waiters: root, process, main, waiter; holders: root, process, hog.
  EXPECT_EQ(Count(svg, "<g class=\"f\""), 7u);
  EXPECT_NE(svg.find("<title>waiter (/a.py:3)\n3 ms, 3 waits, 100.0%</title>"), std::string::npos)
      << svg;
  EXPECT_NE(svg.find("hog &amp; co (/a.py:7)"), std::string::npos);
  EXPECT_NE(svg.find("app&lt;1&gt; (pid 9)"), std::string::npos);
  EXPECT_EQ(svg.find("app<1>"), std::string::npos);  // nothing unescaped
  EXPECT_NE(svg.find("<script><![CDATA["), std::string::npos);
}

TEST(FlameSvg, NothingSeen) {
  const std::string svg = FlameSvg({});
  EXPECT_EQ(Count(svg, "no contended GIL wait seen"), 2u);
  EXPECT_EQ(Count(svg, "<g class=\"f\""), 0u);
}

}  // namespace
}  // namespace gilstat::profile
