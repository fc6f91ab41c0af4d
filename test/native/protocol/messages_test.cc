#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace pycage::protocol {
namespace {

TEST(BuildersTest, RunCommandCarriesIdSlotAndLimits) {
  ChildLimits limits{.cpu_ms = 5000, .memory_bytes = 1024, .file_size_bytes = 2, .processes = 5, .open_files = 64, .tmp_bytes = 7};
  EXPECT_EQ(BuildRunCommand(42, 3, limits),
            R"({"op":"run","id":42,"slot":3,"limits":{"cpuMs":5000,"memoryBytes":1024,"fileSizeBytes":2,)"
            R"("processes":5,"openFiles":64,"tmpBytes":7}})");
}

TEST(BuildersTest, SessionCallsNameTheirSessionEscaped) {
  ChildLimits limits{.cpu_ms = 1, .memory_bytes = 2, .file_size_bytes = 3, .processes = 4, .open_files = 6, .tmp_bytes = 5};
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

// A base64 PNG of `decoded` bytes: the real signature, then filler.
std::string PngData(size_t decoded) {
  std::string data = "iVBORw0KGgo";  // the 8-byte signature (and 0 bits of the 9th byte)
  data.resize(decoded / 3 * 4, 'A');
  return data;
}

std::string Figure(const std::string& data, const std::string& type = "image/png") {
  return R"({"type":")" + type + R"(","data":")" + data + R"("})";
}

std::string Reply(const std::string& fields, const std::string& status = "ok") {
  std::string head = R"({"status":")" + status + '"';
  if (status == "error") head += R"(,"error":{"type":"ValueError","message":"m","traceback":"t","line":1})";
  return head + (fields.empty() ? "" : "," + fields) + "}";
}

TEST(ParseRunReplyMetaTest, ReadsFiguresAndAuditOnOkAndError) {
  for (const char* status : {"ok", "error"}) {
    auto meta = ParseRunReplyMeta(Reply(R"("figures":[)" + Figure(PngData(300)) + "," + Figure("iVBORw0KGgo=") +
                                            R"(],"figuresTruncated":true,"audit":[{"kind":"module","name":"socket",)"
                                            R"("message":"no network"},{"kind":"member","name":"os.system","message":""}])",
                                        status));
    ASSERT_TRUE(meta.ok()) << status << ": " << meta.status().message();
    ASSERT_EQ(meta->figures.size(), 2u);
    EXPECT_EQ(meta->figures[0].type, "image/png");
    EXPECT_EQ(meta->figures[0].data, PngData(300));
    EXPECT_EQ(meta->figures[1].data, "iVBORw0KGgo=");
    EXPECT_TRUE(meta->figures_truncated);
    ASSERT_EQ(meta->audit.size(), 2u);
    EXPECT_EQ(meta->audit[0].kind, "module");
    EXPECT_EQ(meta->audit[0].name, "socket");
    EXPECT_EQ(meta->audit[0].message, "no network");
    EXPECT_EQ(meta->audit[1].kind, "member");
    EXPECT_EQ(meta->audit[1].name, "os.system");
  }
}

TEST(ParseRunReplyMetaTest, FiguresAndAuditAreOptional) {
  auto meta = ParseRunReplyMeta(Reply(""));
  ASSERT_TRUE(meta.ok());
  EXPECT_TRUE(meta->figures.empty());
  EXPECT_FALSE(meta->figures_truncated);
  EXPECT_TRUE(meta->audit.empty());
  auto empty = ParseRunReplyMeta(Reply(R"("figures":[],"audit":[],"figuresTruncated":false)"));
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->figures.empty());
}

TEST(ParseRunReplyMetaTest, RejectsHostileFigures) {
  const std::string png = PngData(30);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("figures":{})", "reply 'figures' is not an array"},
      {R"("figures":["x"])", "a reply figure is not an object"},
      {R"("figures":[{"data":")" + png + R"("}])", "a reply figure's 'type' is not \"image/png\""},
      {R"("figures":[)" + Figure(png, "image/svg+xml") + "]", "a reply figure's 'type' is not \"image/png\""},
      {R"("figures":[{"type":"image/png","data":7}])", "a reply figure has no string 'data'"},
      {R"("figures":[)" + Figure("R0lGODlh") + "]", "a reply figure's 'data' is not base64 of a PNG"},  // GIF
      {R"("figures":[)" + Figure(png + "A") + "]", "a reply figure's 'data' is not base64 of a PNG"},
      {R"("figures":[)" + Figure(png.substr(0, png.size() - 4) + "A=AA") + "]",
       "a reply figure's 'data' is not base64 of a PNG"},
      {R"("figures":[)" + Figure(png.substr(0, png.size() - 4) + "AA\\n=") + "]",
       "a reply figure's 'data' is not base64 of a PNG"},
      {R"("figures":[)" + Figure(png.substr(0, png.size() - 4) + "A===") + "]",
       "a reply figure's 'data' is not base64 of a PNG"},
      {R"("figures":[],"figuresTruncated":"yes")", "reply 'figuresTruncated' is not a boolean"},
  };
  for (const auto& [fields, why] : cases) {
    auto meta = ParseRunReplyMeta(Reply(fields));
    ASSERT_FALSE(meta.ok()) << fields;
    EXPECT_EQ(meta.status().message(), "malformed message from the jail: " + why) << fields;
  }
}

TEST(ParseRunReplyMetaTest, RejectsTooManyOrTooLargeFigures) {
  std::string many;
  for (size_t i = 0; i <= kMaxFigures; ++i) many += (i ? "," : "") + Figure(PngData(30));
  auto meta = ParseRunReplyMeta(Reply(R"("figures":[)" + many + "]"));
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().message(), "malformed message from the jail: reply has 17 figures, more than 16");

  // One byte under the cap is fine; one more 3-byte group is not.
  const size_t a = 3 * 699051;
  const size_t b = 3 * 699050;
  ASSERT_EQ(a + b, kMaxFigurePngBytes - 1);
  EXPECT_TRUE(ParseRunReplyMeta(Reply(R"("figures":[)" + Figure(PngData(a)) + "," + Figure(PngData(b)) + "]")).ok());
  meta = ParseRunReplyMeta(Reply(R"("figures":[)" + Figure(PngData(a + 3)) + "," + Figure(PngData(b)) + "]"));
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().message(), "malformed message from the jail: reply figures hold more than 4194304 bytes of PNG");

  // The meta frame as a whole is capped before it is parsed.
  const std::string huge = Reply(R"("pad":")" + std::string(kMaxReplyMetaBytes, 'x') + R"(")");
  meta = ParseRunReplyMeta(huge);
  ASSERT_FALSE(meta.ok());
  EXPECT_NE(meta.status().message().find("byte cap"), std::string::npos) << meta.status().message();
}

TEST(ParseRunReplyMetaTest, RejectsHostileAudit) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("audit":"socket")", "reply 'audit' is not an array"},
      {R"("audit":[1])", "a reply audit entry is not an object"},
      {R"("audit":[{"kind":"file","name":"x","message":""}])",
       "a reply audit entry's 'kind' is not \"module\" or \"member\""},
      {R"("audit":[{"kind":"module","name":"","message":""}])", "a reply audit entry has no 'name' of 1 to 1024 bytes"},
      {R"("audit":[{"kind":"module","name":")" + std::string(kMaxAuditNameBytes + 1, 'a') + R"(","message":""}])",
       "a reply audit entry has no 'name' of 1 to 1024 bytes"},
      {R"("audit":[{"kind":"module","name":"x"}])", "a reply audit entry has no 'message' of at most 4096 bytes"},
      {R"("audit":[{"kind":"module","name":"x","message":")" + std::string(kMaxAuditMessageBytes + 1, 'm') + R"("}])",
       "a reply audit entry has no 'message' of at most 4096 bytes"},
  };
  for (const auto& [fields, why] : cases) {
    auto meta = ParseRunReplyMeta(Reply(fields, "error"));
    ASSERT_FALSE(meta.ok()) << fields;
    EXPECT_EQ(meta.status().message(), "malformed message from the jail: " + why) << fields;
  }
  std::string many;
  for (size_t i = 0; i <= kMaxAuditEntries; ++i) many += std::string(i ? "," : "") + R"({"kind":"module","name":"s","message":""})";
  auto meta = ParseRunReplyMeta(Reply(R"("audit":[)" + many + "]"));
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().message(), "malformed message from the jail: reply has 257 audit entries, more than 256");
}

TEST(ParseRunReplyMetaTest, ReadsImportedModuleNames) {
  auto meta = ParseRunReplyMeta(Reply(R"("imported":["numpy.ma","numpy.ma.core","_strptime"])"));
  ASSERT_TRUE(meta.ok()) << meta.status().message();
  EXPECT_EQ(meta->imported, (std::vector<std::string>{"numpy.ma", "numpy.ma.core", "_strptime"}));
  auto absent = ParseRunReplyMeta(Reply(R"("figures":[])"));
  ASSERT_TRUE(absent.ok());
  EXPECT_TRUE(absent->imported.empty());
}

TEST(ParseRunReplyMetaTest, RejectsImportedThatAreNotModuleNames) {
  const std::string why = "malformed message from the jail: a reply 'imported' entry is not a dotted module name of "
                          "at most 200 bytes";
  const std::vector<std::string> entries = {R"("../etc/passwd")", R"("os; import x")", R"("a..b")", R"(".a")", R"("a.")",
                                   R"("1abc")", R"("")", R"(7)", R"("caf\u00e9")",
                                   "\"" + std::string(kMaxModuleNameBytes + 1, 'a') + "\""};
  for (const std::string& entry : entries) {
    auto meta = ParseRunReplyMeta(Reply(R"("imported":[)" + entry + "]", "error"));
    ASSERT_FALSE(meta.ok()) << entry;
    EXPECT_EQ(meta.status().message(), why) << entry;
  }
  std::string many;
  for (size_t i = 0; i <= kMaxImportedModules; ++i) many += std::string(i ? "," : "") + "\"m" + std::to_string(i) + "\"";
  auto meta = ParseRunReplyMeta(Reply(R"("imported":[)" + many + "]"));
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().message(), "malformed message from the jail: reply lists 65 imported modules, more than 64");
  auto not_array = ParseRunReplyMeta(Reply(R"("imported":"numpy")"));
  ASSERT_FALSE(not_array.ok());
  EXPECT_EQ(not_array.status().message(), "malformed message from the jail: reply 'imported' is not an array");
}

TEST(IsModuleNameTest, AcceptsDottedIdentifiersOnly) {
  EXPECT_TRUE(IsModuleName("numpy"));
  EXPECT_TRUE(IsModuleName("_x9.y_1.Z"));
  EXPECT_TRUE(IsModuleName(std::string(kMaxModuleNameBytes, 'a')));
  EXPECT_FALSE(IsModuleName(std::string(kMaxModuleNameBytes + 1, 'a')));
  EXPECT_FALSE(IsModuleName("a.9b"));
  EXPECT_FALSE(IsModuleName("a-b"));
  EXPECT_FALSE(IsModuleName("a b"));
  EXPECT_FALSE(IsModuleName(std::string_view("a\0b", 3)));
}

TEST(ParseRunReplyMetaTest, SetupErrorIgnoresFigures) {
  auto meta = ParseRunReplyMeta(R"({"status":"setup_error","message":"mount","figures":"junk"})");
  ASSERT_TRUE(meta.ok()) << meta.status().message();
  EXPECT_TRUE(meta->figures.empty());
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
