// The supervisor end to end: real helper, real zygote, real runs, both tiers.
#include "supervisor/supervisor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>

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

// Pids of this process's live children: the jail helpers (in bypass the
// helper has exec'd the zygote itself), as nothing else here spawns.
std::vector<pid_t> HelperChildren() {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    // Plain read(): a process that exits while we read makes it fail with
    // ESRCH, which an ifstream would turn into an exception.
    const int fd = open(("/proc/" + std::string(entry->d_name) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buffer[1024];
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    close(fd);
    if (got <= 0) continue;
    const std::string stat(buffer, static_cast<size_t>(got));
    const size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(close_paren + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid() && state != 'Z') found.push_back(pid);
  }
  closedir(proc);
  return found;
}

class SupervisorTest : public ::testing::TestWithParam<Tier> {
 protected:
  uint64_t idle_ms_ = 300'000;

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
    config.zygote_idle_ms = idle_ms_;
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

  RunOutcome Run(uint64_t id, const std::string& code, RunLimits limits = {}, const std::string& session = {}) {
    RunRequest request;
    request.id = id;
    request.code = code;
    request.inputs_json = R"({"x": 20})";
    request.limits = limits;
    request.session = session;
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

TEST_P(SupervisorTest, SessionsKeepStateAndRestartAfterATimeout) {
  const RunOutcome first = Run(50, "total = x", {}, "a");
  ASSERT_TRUE(first.ok) << (first.error ? first.error->message : first.rejection.message());
  EXPECT_TRUE(first.session_started);
  const RunOutcome second = Run(51, "total += 1\ntotal", {}, "a");
  ASSERT_TRUE(second.ok) << (second.error ? second.error->message : second.rejection.message());
  EXPECT_EQ(second.result_json, "21");
  EXPECT_FALSE(second.session_started);
  EXPECT_EQ(Run(52, "'total' in globals()", {}, "b").result_json, "false");
  RunLimits short_wall;
  short_wall.wall_ms = 300;
  const RunOutcome slow = Run(53, "while True: pass", short_wall, "a");
  ASSERT_TRUE(slow.error);
  EXPECT_EQ(slow.error->type, "TimeoutError");
  const RunOutcome fresh = Run(54, "'total' in globals()", {}, "a");
  EXPECT_EQ(fresh.result_json, "false");
  EXPECT_TRUE(fresh.session_started);
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

TEST_P(SupervisorTest, RestartsAZygoteThatDiesAndSaysSoToTheRunInFlight) {
  RunRequest request;
  request.id = 20;
  request.code = "import time\ntime.sleep(30)";
  ASSERT_TRUE(supervisor_->Submit(std::move(request)).ok());
  usleep(300 * 1000);
  const std::vector<pid_t> helpers = HelperChildren();
  ASSERT_EQ(helpers.size(), 1u);
  kill(helpers[0], SIGKILL);
  const RunOutcome lost = collector_.Wait(20);
  ASSERT_TRUE(lost.error);
  EXPECT_EQ(lost.error->type, "Crashed");
  const RunOutcome next = Run(21, "6 * 7");
  ASSERT_TRUE(next.ok) << (next.error ? next.error->message : next.rejection.message());
  EXPECT_EQ(next.result_json, "42");
}

class IdleSupervisorTest : public SupervisorTest {
 protected:
  void SetUp() override {
    idle_ms_ = 200;
    SupervisorTest::SetUp();
  }
};

TEST_P(IdleSupervisorTest, KeepsAZygoteWithASessionUntilTheSessionCloses) {
  ASSERT_TRUE(Run(40, "kept = x", {}, "s1").ok);
  usleep(600 * 1000);  // three idle periods
  EXPECT_FALSE(HelperChildren().empty()) << "a zygote holding a session was retired";
  const RunOutcome kept = Run(41, "kept + 1", {}, "s1");
  ASSERT_TRUE(kept.ok) << (kept.error ? kept.error->message : kept.rejection.message());
  EXPECT_EQ(kept.result_json, "21");
  EXPECT_FALSE(kept.session_started);
  supervisor_->CloseSession("s1");
  for (int i = 0; i < 50 && !HelperChildren().empty(); ++i) usleep(50 * 1000);
  EXPECT_TRUE(HelperChildren().empty()) << "the zygote was not retired after its session closed";
}

TEST_P(IdleSupervisorTest, RetiresAnIdleZygoteAndStartsOneForTheNextRun) {
  ASSERT_TRUE(Run(30, "1").ok);
  for (int i = 0; i < 50 && !HelperChildren().empty(); ++i) usleep(50 * 1000);
  EXPECT_TRUE(HelperChildren().empty()) << "the idle zygote was not retired";
  const RunOutcome next = Run(31, "2 + 2");
  ASSERT_TRUE(next.ok) << (next.error ? next.error->message : next.rejection.message());
  EXPECT_EQ(next.result_json, "4");
}

INSTANTIATE_TEST_SUITE_P(Tiers, IdleSupervisorTest, ::testing::Values(Tier::kFull, Tier::kBypass),
                         [](const auto& info) { return info.param == Tier::kFull ? "Full" : "Bypass"; });

INSTANTIATE_TEST_SUITE_P(Tiers, SupervisorTest, ::testing::Values(Tier::kFull, Tier::kBypass),
                         [](const auto& info) { return info.param == Tier::kFull ? "Full" : "Bypass"; });

}  // namespace
}  // namespace pycage
