// The supervisor end to end: real helper, real zygote, real runs, both tiers.
#include "supervisor/supervisor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

namespace pycage {
namespace {

class Collector {
 public:
  void Add(RunOutcome outcome) {
    std::lock_guard<std::mutex> lock(mutex_);
    outcomes_[outcome.id] = std::move(outcome);
    changed_.notify_all();
  }
  RunOutcome Wait(uint64_t id, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, timeout, [&] { return outcomes_.count(id) != 0; })) << "run " << id;
    return outcomes_.count(id) ? outcomes_[id] : RunOutcome{};
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, RunOutcome> outcomes_;
};

class SupervisorTest : public ::testing::TestWithParam<Tier> {
 protected:
  void SetUp() override {
    if (access(PYCAGE_HELPER_PATH, X_OK) != 0) GTEST_SKIP() << "helper not built";
    SupervisorConfig config;
    config.helper_path = PYCAGE_HELPER_PATH;
    config.runner_dir = PYCAGE_RUNNER_DIR;
    config.python = PYCAGE_PYTHON;
    config.python_prefixes = {PYCAGE_PYTHON_PREFIX};
    config.tier = GetParam();
    config.concurrency = 4;
    config.max_queue = 8;
    config.on_outcome = [this](RunOutcome outcome) { collector_.Add(std::move(outcome)); };
    auto started = Supervisor::Start(std::move(config));
    ASSERT_TRUE(started.ok()) << started.status().message();
    supervisor_ = std::move(started).value();
  }
  void TearDown() override {
    if (!supervisor_) return;
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
    supervisor_->Shutdown([&] {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
      done.notify_all();
    });
    std::unique_lock<std::mutex> lock(mutex);
    EXPECT_TRUE(done.wait_for(lock, std::chrono::seconds(10), [&] { return finished; }));
    lock.unlock();
    supervisor_->Join();
  }

  RunOutcome Run(uint64_t id, const std::string& code, RunLimits limits = {}) {
    RunRequest request;
    request.id = id;
    request.code = code;
    request.inputs_json = R"({"x": 20})";
    request.limits = limits;
    EXPECT_TRUE(supervisor_->Submit(std::move(request)).ok());
    return collector_.Wait(id);
  }

  Collector collector_;
  std::unique_ptr<Supervisor> supervisor_;
};

TEST_P(SupervisorTest, RunsCodeWithInputsAndReturnsTheLastExpression) {
  const RunOutcome outcome = Run(1, "print('hello')\nx + 22");
  ASSERT_TRUE(outcome.rejection.ok()) << outcome.rejection.message();
  ASSERT_TRUE(outcome.ok) << (outcome.error ? outcome.error->message : "");
  EXPECT_EQ(outcome.result_json, "42");
  EXPECT_EQ(outcome.stdout_data, "hello\n");
}

TEST_P(SupervisorTest, ReportsPythonErrorsWithTheNodeLine) {
  const RunOutcome outcome = Run(2, "a = 1\nb = {}\nb['missing']");
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "KeyError");
  EXPECT_EQ(outcome.error->line, 3);
}

TEST_P(SupervisorTest, TimesOutAnInfiniteLoop) {
  RunLimits limits;
  limits.wall_ms = 500;
  const RunOutcome outcome = Run(3, "while True: pass", limits);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "TimeoutError");
}

TEST_P(SupervisorTest, CapsStdoutAndFlagsTruncation) {
  RunLimits limits;
  limits.stdout_bytes = 1000;
  const RunOutcome outcome = Run(4, "import sys\nsys.stdout.write('x' * 100000)\n'done'", limits);
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.stdout_data.size(), 1000u);
  EXPECT_TRUE(outcome.truncated_stdout);
}

TEST_P(SupervisorTest, CancelsARunningRun) {
  RunRequest request;
  request.id = 5;
  request.code = "import time\ntime.sleep(30)";
  ASSERT_TRUE(supervisor_->Submit(std::move(request)).ok());
  usleep(300 * 1000);
  supervisor_->Cancel(5);
  const RunOutcome outcome = collector_.Wait(5);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->type, "Cancelled");
}

TEST_P(SupervisorTest, RejectsBeyondTheQueueWithOverloaded) {
  // Four slots busy and eight queued: the thirteenth submit is refused.
  Status last;
  for (uint64_t id = 100; id < 113; ++id) {
    RunRequest request;
    request.id = id;
    request.code = "import time\ntime.sleep(1)";
    last = supervisor_->Submit(std::move(request));
    if (!last.ok()) break;
  }
  EXPECT_EQ(last.code(), ErrorCode::kOverloaded);
}

INSTANTIATE_TEST_SUITE_P(Tiers, SupervisorTest, ::testing::Values(Tier::kFull, Tier::kBypass),
                         [](const auto& info) { return info.param == Tier::kFull ? "Full" : "Bypass"; });

}  // namespace
}  // namespace pycage
