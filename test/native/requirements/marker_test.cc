#include "requirements/marker.h"

#include <gtest/gtest.h>

#include <string>

namespace pycage::requirements {
namespace {

std::string Norm(std::string_view text) {
  Result<std::string> out = NormalizeMarker(text);
  EXPECT_TRUE(out.ok()) << text << ": " << out.status().message();
  return out.ok() ? out.value() : "<error>";
}

std::string Err(std::string_view text) {
  Result<std::string> out = NormalizeMarker(text);
  EXPECT_FALSE(out.ok()) << "accepted: " << text;
  return out.ok() ? "<accepted>" : out.status().message();
}

TEST(MarkerTest, NormalizesSpacingAndQuotes) {
  EXPECT_EQ(Norm("python_version>='3.9'"), "python_version >= \"3.9\"");
  EXPECT_EQ(Norm("  sys_platform\t==\t\"linux\"  "), "sys_platform == \"linux\"");
  EXPECT_EQ(Norm("((extra=='a'))"), "((extra == \"a\"))");
  EXPECT_EQ(Norm("extra==''"), "extra == \"\"");
}

TEST(MarkerTest, ReadsEveryOperator) {
  for (std::string_view op : {"==", "!=", "<=", ">=", "<", ">", "~=", "===", "in", "not in"}) {
    const std::string expected = "os_name " + std::string(op) + " \"posix\"";
    EXPECT_EQ(Norm("os_name " + std::string(op) + " 'posix'"), expected);
  }
  EXPECT_EQ(Norm("'a' not  in extra"), "\"a\" not in extra");
}

TEST(MarkerTest, ReadsEveryVariable) {
  for (std::string_view var :
       {"python_version", "python_full_version", "os_name", "sys_platform", "platform_release", "platform_system",
        "platform_version", "platform_machine", "platform_python_implementation", "implementation_name",
        "implementation_version", "extra"}) {
    EXPECT_EQ(Norm(std::string(var) + "=='x'"), std::string(var) + " == \"x\"");
  }
}

TEST(MarkerTest, KeepsAndOrAndParenthesesAsWritten) {
  EXPECT_EQ(Norm("os_name=='a' or os_name=='b' and extra=='c'"),
            "os_name == \"a\" or os_name == \"b\" and extra == \"c\"");
  EXPECT_EQ(Norm("( os_name=='a' or os_name=='b' ) and ( extra=='c' )"),
            "(os_name == \"a\" or os_name == \"b\") and (extra == \"c\")");
}

TEST(MarkerTest, RefusesBadGrammar) {
  EXPECT_EQ(Err("python_version"), "invalid environment marker: expected a comparison (==, !=, <, <=, >, >=, ~=, "
                                   "===, in, not in), got the end of the marker");
  EXPECT_EQ(Err("python_version >="), "invalid environment marker: expected a marker variable such as python_version "
                                      "or a quoted string, got the end of the marker");
  EXPECT_EQ(Err("os_name == 'a' and"), "invalid environment marker: expected a marker variable such as "
                                       "python_version or a quoted string, got the end of the marker");
  EXPECT_EQ(Err("os_name == 'a' AND extra == 'b'"),
            "invalid environment marker: expected 'and', 'or' or the end of the marker, got 'AND'");
  EXPECT_EQ(Err("(os_name == 'a'"), "invalid environment marker: expected ')', got the end of the marker");
  EXPECT_EQ(Err("os_name == 'a')"), "invalid environment marker: expected 'and', 'or' or the end of the marker, got ')'");
  EXPECT_EQ(Err("os_name not 'a'"), "invalid environment marker: expected 'in' after 'not', got the string 'a'");
  EXPECT_EQ(Err("os_name = 'a'"), "invalid environment marker: unexpected character '='; a marker compares variables "
                                  "with quoted strings, e.g. python_version >= \"3.9\"");
  EXPECT_EQ(Err("os_name == 'a"), "invalid environment marker: a quoted string is not closed; add the closing '");
  EXPECT_EQ(Err("os_name == \"a'"), "invalid environment marker: the character ''' is not allowed in a marker string; "
                                    "strings may contain letters, digits and '.', '_', '-', '+', '*', '!', '~', ',', "
                                    "':' (no spaces)");
  EXPECT_EQ(Err("python_implementation == 'x'"),
            "invalid environment marker: 'python_implementation' is not a marker variable; use python_version, "
            "python_full_version, os_name, sys_platform, platform_release, platform_system, platform_version, "
            "platform_machine, platform_python_implementation, implementation_name, implementation_version or extra");
  EXPECT_EQ(Err("os_name == 'a/b'"), "invalid environment marker: the character '/' is not allowed in a marker "
                                     "string; strings may contain letters, digits and '.', '_', '-', '+', '*', '!', "
                                     "'~', ',', ':' (no spaces)");
}

TEST(MarkerTest, CapsNesting) {
  std::string ok = std::string(32, '(') + "extra=='a'" + std::string(32, ')');
  EXPECT_TRUE(NormalizeMarker(ok).ok());
  std::string deep = "(" + ok + ")";
  EXPECT_EQ(Err(deep), "invalid environment marker: parentheses nest more than 32 deep; simplify it");
  EXPECT_FALSE(NormalizeMarker(std::string(60000, '(')).ok());
}

}  // namespace
}  // namespace pycage::requirements
