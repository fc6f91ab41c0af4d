#include "supervisor/outcome.h"

#include <gtest/gtest.h>

#include <csignal>

namespace pycage {
namespace {

protocol::ControlMessage ExitWith(std::optional<int> code, std::optional<int> signal, double cpu_ms = 1) {
  protocol::ControlMessage exit;
  exit.op = protocol::ControlMessage::Op::kExit;
  exit.exit_code = code;
  exit.signal = signal;
  exit.cpu_ms = cpu_ms;
  exit.max_rss_kb = 9000;
  return exit;
}

protocol::RunReplyMeta OkReply() { return protocol::RunReplyMeta{}; }

TEST(DecideOutcomeTest, OkReplyWithResultResolvesOk) {
  RunFacts facts;
  facts.reply = OkReply();
  facts.result_json = "{\"total\":3}";
  facts.exit = ExitWith(0, std::nullopt, 2.5);
  const RunOutcome outcome = DecideOutcome(facts);
  EXPECT_TRUE(outcome.rejection.ok());
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.result_json, "{\"total\":3}");
  EXPECT_DOUBLE_EQ(outcome.cpu_ms, 2.5);
  EXPECT_EQ(outcome.peak_memory_kb, 9000u);
}

TEST(DecideOutcomeTest, UsesTheReplysUsageBeforeTheExitReport) {
  RunFacts facts;
  protocol::RunReplyMeta reply;
  reply.cpu_ms = 1.25;
  reply.max_rss_kb = 7000;
  facts.reply = reply;
  facts.result_json = "1";
  const RunOutcome outcome = DecideOutcome(facts);
  EXPECT_TRUE(outcome.ok);
  EXPECT_DOUBLE_EQ(outcome.cpu_ms, 1.25);
  EXPECT_EQ(outcome.peak_memory_kb, 7000u);
}

TEST(DecideOutcomeTest, FiguresAndAuditComeWithOkAndErrorReplies) {
  for (const auto status : {protocol::RunReplyMeta::Status::kOk, protocol::RunReplyMeta::Status::kError}) {
    RunFacts facts;
    protocol::RunReplyMeta reply;
    reply.status = status;
    reply.error = {"ValueError", "m", "t", 1};
    reply.figures = {{"image/png", "iVBORw0KGgo="}};
    reply.figures_truncated = true;
    reply.audit = {{"module", "socket", "no network"}};
    facts.reply = reply;
    facts.result_json = "1";
    const RunOutcome outcome = DecideOutcome(facts);
    EXPECT_EQ(outcome.ok, status == protocol::RunReplyMeta::Status::kOk);
    ASSERT_EQ(outcome.figures.size(), 1u);
    EXPECT_EQ(outcome.figures[0].data, "iVBORw0KGgo=");
    EXPECT_TRUE(outcome.truncated_figures);
    ASSERT_EQ(outcome.audit.size(), 1u);
    EXPECT_EQ(outcome.audit[0].name, "socket");
  }
}

TEST(DecideOutcomeTest, NoFiguresWhenTheSupervisorDecides) {
  RunFacts facts;
  protocol::RunReplyMeta reply;
  reply.figures = {{"image/png", "iVBORw0KGgo="}};
  facts.reply = reply;
  facts.result_json = "1";
  facts.timed_out = true;
  const RunOutcome outcome = DecideOutcome(facts);
  EXPECT_EQ(outcome.error->type, "TimeoutError");
  EXPECT_TRUE(outcome.figures.empty());
}

TEST(DecideOutcomeTest, PythonErrorIsPassedThrough) {
  RunFacts facts;
  protocol::RunReplyMeta reply;
  reply.status = protocol::RunReplyMeta::Status::kError;
  reply.error = {"KeyError", "'x'", "Traceback...", 4};
  facts.reply = reply;
  facts.exit = ExitWith(0, std::nullopt);
  const RunOutcome outcome = DecideOutcome(facts);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "KeyError");
  EXPECT_EQ(outcome.error->line, 4);
}

TEST(DecideOutcomeTest, TimeoutWinsOverTheKillSignal) {
  RunFacts facts;
  facts.timed_out = true;
  facts.exit = ExitWith(std::nullopt, SIGKILL);
  const RunOutcome outcome = DecideOutcome(facts);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "TimeoutError");
  EXPECT_EQ(outcome.error->message,
            "the run exceeded its wall-time limit of 10 s; raise limits.wallMs or make the node do less work");
}

TEST(DecideOutcomeTest, SignalsMapToTypedErrors) {
  struct Case {
    int signal;
    double cpu_ms;
    const char* type;
  };
  for (const Case& c : {Case{SIGXCPU, 100, "CpuLimitExceeded"}, Case{SIGKILL, 6000, "CpuLimitExceeded"},
                        Case{SIGSYS, 1, "SandboxViolation"}, Case{SIGXFSZ, 1, "OutputLimitExceeded"},
                        Case{SIGSEGV, 1, "Crashed"}, Case{SIGKILL, 1, "Crashed"}}) {
    RunFacts facts;
    facts.exit = ExitWith(std::nullopt, c.signal, c.cpu_ms);
    const RunOutcome outcome = DecideOutcome(facts);
    ASSERT_TRUE(outcome.error) << c.signal;
    EXPECT_EQ(outcome.error->type, c.type) << SignalName(c.signal);
  }
}

TEST(DecideOutcomeTest, ForgedOrTornRepliesAreProtocolErrors) {
  RunFacts facts;
  facts.protocol_error = "extra frames after the reply";
  facts.exit = ExitWith(0, std::nullopt);
  const RunOutcome outcome = DecideOutcome(facts);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "ProtocolError");
}

TEST(DecideOutcomeTest, SetupErrorRejectsAsIsolationUnavailable) {
  RunFacts facts;
  protocol::RunReplyMeta reply;
  reply.status = protocol::RunReplyMeta::Status::kSetupError;
  reply.setup_message = "mount /tmp: EPERM";
  facts.reply = reply;
  const RunOutcome outcome = DecideOutcome(facts);
  EXPECT_EQ(outcome.rejection.code(), ErrorCode::kIsolationUnavailable);
  EXPECT_EQ(outcome.rejection.message(), "the jail could not set up the run: mount /tmp: EPERM");
}

TEST(DecideOutcomeTest, ZygoteDeathWithoutExitIsACrashSafeToRetry) {
  RunFacts facts;
  facts.zygote_death = "the jail helper was killed by signal 9";
  const RunOutcome outcome = DecideOutcome(facts);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "Crashed");
  EXPECT_NE(outcome.error->message.find("safe to retry"), std::string::npos);
}

TEST(DecideOutcomeTest, ClosingRejectsWithClosed) {
  RunFacts facts;
  facts.closing = true;
  facts.exit = ExitWith(std::nullopt, SIGKILL);
  EXPECT_EQ(DecideOutcome(facts).rejection.code(), ErrorCode::kClosed);
}

TEST(DecideOutcomeTest, ExitWithoutReplyNamesTheCode) {
  RunFacts facts;
  facts.exit = ExitWith(3, std::nullopt);
  const RunOutcome outcome = DecideOutcome(facts);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->message, "the interpreter exited with code 3 before it replied (did the node call os._exit()?)");
}

}  // namespace
}  // namespace pycage
