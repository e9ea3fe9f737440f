#include "gilstat/utf8.h"

#include <gtest/gtest.h>

namespace gilstat {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(SanitizeUtf8, ValidTextIsKeptAsIs) {
  for (const std::string& s : std::initializer_list<std::string>{
           "", "python3.11", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x90\x8D snake",
           "\xED\x9F\xBF", "\xEE\x80\x80", "\xF4\x8F\xBF\xBF", std::string("a\0b", 3)}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(SanitizeUtf8(s), s);
  }
}

TEST(SanitizeUtf8, InvalidBytesAreReplacedNotDropped) {
  // The process name that made every scrape fail.
  EXPECT_FALSE(IsValidUtf8("ev\xFF\xFE"));
  EXPECT_EQ(SanitizeUtf8("ev\xFF\xFE"), "ev" + kFffd + kFffd);
  EXPECT_EQ(SanitizeUtf8("\x80x"), kFffd + "x");  // a lone continuation byte
  EXPECT_EQ(SanitizeUtf8("\xF5\x80"), kFffd + kFffd);
}

TEST(SanitizeUtf8, OverlongEncodings) {
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), kFffd + kFffd);  // '/' in two bytes
  EXPECT_EQ(SanitizeUtf8("\xC1\xBF"), kFffd + kFffd);
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\xAF"), kFffd + kFffd + kFffd);  // '/' in three bytes
  EXPECT_EQ(SanitizeUtf8("\xF0\x80\x80\xAF"), kFffd + kFffd + kFffd + kFffd);
}

TEST(SanitizeUtf8, SurrogatesAndBeyondU10FFFF) {
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // U+D800
  EXPECT_EQ(SanitizeUtf8("\xED\xBF\xBF"), kFffd + kFffd + kFffd);  // U+DFFF
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);
}

TEST(SanitizeUtf8, TruncatedSequencesAreOneReplacementEach) {
  EXPECT_EQ(SanitizeUtf8("a\xC3"), "a" + kFffd);
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"), kFffd);
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x90"), kFffd);
  EXPECT_EQ(SanitizeUtf8("\xE2\x82x\xC3\xA9"), kFffd + "x\xC3\xA9");  // resumes after it
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x90\xF0\x9F\x90\x8D"), kFffd + "\xF0\x9F\x90\x8D");
}

TEST(SanitizeUtf8, OutputIsAlwaysValid) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    for (int c = 0x70; c < 0xC8; c += 3) {
      all += static_cast<char>(b);
      all += static_cast<char>(c);
    }
  }
  const std::string out = SanitizeUtf8(all);
  EXPECT_TRUE(IsValidUtf8(out));
  EXPECT_GE(out.size(), all.size());
}

}  // namespace
}  // namespace gilstat
