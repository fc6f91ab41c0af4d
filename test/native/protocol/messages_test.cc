#include "protocol/messages.h"

#include <gtest/gtest.h>

namespace pycage::protocol {
namespace {

TEST(BuildersTest, RunCommandCarriesIdSlotAndLimits) {
  ChildLimits limits{.cpu_ms = 5000, .memory_bytes = 1024, .file_size_bytes = 2, .processes = 5, .tmp_bytes = 7, .open_files = 64};
  EXPECT_EQ(BuildRunCommand(42, 3, limits),
            R"({"op":"run","id":42,"slot":3,"limits":{"cpuMs":5000,"memoryBytes":1024,"fileSizeBytes":2,)"
            R"("processes":5,"tmpBytes":7,"openFiles":64}})");
}

TEST(BuildersTest, SessionCallsNameTheirSessionEscaped) {
  ChildLimits limits{.cpu_ms = 1, .memory_bytes = 2, .file_size_bytes = 3, .processes = 4, .tmp_bytes = 5, .open_files = 6};
  const std::string command = BuildRunCommand(1, 0, limits, "s\"1");
  EXPECT_NE(command.find(R"("session":"s\"1"})"), std::string::npos) << command;
  EXPECT_EQ(BuildRunCommand(1, 0, limits).find("session"), std::string::npos);
  EXPECT_EQ(BuildCloseSessionCommand("s7"), R"({"op":"closeSession","session":"s7"})");
}

TEST(BuildersTest, RequestMetaEscapesCode) {
  EXPECT_EQ(BuildRunRequestMeta("print(\"hi\")\n\x01", 16),
            R"({"code":"print(\"hi\")\n\u0001","resultBytes":16})");
}

TEST(ParseControlMessageTest, ParsesReady) {
  auto message = ParseControlMessage(R"({"op":"ready","python":"3.11.7","abi":"cpython-311","tier":"full"})");
  ASSERT_TRUE(message.ok()) << message.status().message();
  EXPECT_EQ(message->op, ControlMessage::Op::kReady);
  EXPECT_EQ(message->python_version, "3.11.7");
}

TEST(ParseControlMessageTest, ParsesExitWithSignal) {
  auto message = ParseControlMessage(R"({"op":"exit","id":7,"code":null,"signal":9,"cpuMs":12.5,"maxRssKb":9000})");
  ASSERT_TRUE(message.ok()) << message.status().message();
  EXPECT_EQ(message->op, ControlMessage::Op::kExit);
  EXPECT_EQ(message->id, 7u);
  EXPECT_FALSE(message->exit_code.has_value());
  EXPECT_EQ(message->signal, 9);
  EXPECT_DOUBLE_EQ(message->cpu_ms, 12.5);
  EXPECT_EQ(message->max_rss_kb, 9000u);
}

TEST(ParseControlMessageTest, RejectsHostileShapes) {
  for (const char* text : {"", "[]", "{}", R"({"op":1})", R"({"op":"fork"})", R"({"op":"exit"})",
                           R"({"op":"exit","id":-1})", R"({"op":"exit","id":1,"code":"x"})",
                           R"({"op":"exit","id":1,"signal":99999999999})", "{\"op\":\"ready\""}) {
    EXPECT_FALSE(ParseControlMessage(text).ok()) << text;
  }
}

TEST(ParseRunReplyMetaTest, ParsesError) {
  auto meta = ParseRunReplyMeta(
      R"({"status":"error","error":{"type":"ZeroDivisionError","message":"division by zero","traceback":"tb","line":3}})");
  ASSERT_TRUE(meta.ok()) << meta.status().message();
  EXPECT_EQ(meta->status, RunReplyMeta::Status::kError);
  EXPECT_EQ(meta->error.type, "ZeroDivisionError");
  EXPECT_EQ(meta->error.line, 3);
}

TEST(ParseRunReplyMetaTest, ReadsUsageWhenPresent) {
  auto meta = ParseRunReplyMeta(R"({"status":"ok","usage":{"cpuMs":2.5,"maxRssKb":9000}})");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->cpu_ms, 2.5);
  EXPECT_EQ(meta->max_rss_kb, 9000u);
  auto bare = ParseRunReplyMeta(R"({"status":"ok","usage":"lots"})");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->cpu_ms.has_value());
}

TEST(ParseRunReplyMetaTest, ReadsSessionStartedOnlyAsABoolean) {
  auto started = ParseRunReplyMeta(R"({"status":"ok","sessionStarted":true})");
  ASSERT_TRUE(started.ok());
  EXPECT_TRUE(started->session_started);
  for (const char* text : {R"({"status":"ok"})", R"({"status":"ok","sessionStarted":"yes"})",
                           R"({"status":"ok","sessionStarted":1})"}) {
    auto meta = ParseRunReplyMeta(text);
    ASSERT_TRUE(meta.ok()) << text;
    EXPECT_FALSE(meta->session_started) << text;
  }
}

TEST(ParseRunReplyMetaTest, RejectsErrorWithoutType) {
  EXPECT_FALSE(ParseRunReplyMeta(R"({"status":"error","error":{"message":"m"}})").ok());
  EXPECT_FALSE(ParseRunReplyMeta(R"({"status":"done"})").ok());
}

TEST(ValidateResultJsonTest, AcceptsValuesAndRefusesGarbageAndDepth) {
  EXPECT_TRUE(ValidateResultJson("null", 64).ok());
  EXPECT_TRUE(ValidateResultJson(R"({"a":[1,2.5,"x",true]})", 64).ok());
  EXPECT_FALSE(ValidateResultJson("NaN", 64).ok());
  EXPECT_FALSE(ValidateResultJson("{\"a\":", 64).ok());
  EXPECT_FALSE(ValidateResultJson("\"\xff\"", 64).ok());
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const Status status = ValidateResultJson(deep, 64);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "result nests deeper than 64 levels");
}

}  // namespace
}  // namespace pycage::protocol
