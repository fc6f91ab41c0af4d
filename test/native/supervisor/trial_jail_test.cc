// The trial jail (supervisor/trial_jail.h) with the real helper and runner,
// and how a supervisor reports a jail that fails to set up.
#include "supervisor/trial_jail.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>

#include "supervisor/supervisor.h"

namespace pycage {
namespace {

SupervisorConfig RealConfig(Tier tier) {
  SupervisorConfig config;
  config.helper_path = PYCAGE_HELPER_PATH;
  config.runner_dir = PYCAGE_RUNNER_DIR;
  config.python = PYCAGE_PYTHON;
  config.python_prefixes = {PYCAGE_PYTHON_PREFIX};
  config.tier = tier;
  config.concurrency = 1;
  return config;
}

class TrialJailTest : public ::testing::TestWithParam<Tier> {
 protected:
  void SetUp() override {
    if (access(PYCAGE_HELPER_PATH, X_OK) != 0) GTEST_SKIP() << "helper not built";
  }
};

TEST_P(TrialJailTest, SucceedsWhereTheJailWorksAndSaysSo) {
  auto outcome = RunTrialJail(RealConfig(GetParam()), 30'000);
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_TRUE(outcome->ok) << outcome->log;
  EXPECT_EQ(outcome->exit_code, 0);
  EXPECT_EQ(outcome->log, "pycage-zygote: trial ok\n");
  EXPECT_GT(outcome->wall_ms, 0);
}

TEST_P(TrialJailTest, FailsWithTheCauseWhenTheInterpreterCannotRun) {
  SupervisorConfig config = RealConfig(GetParam());
  config.python = "/nonexistent/python3";
  auto outcome = RunTrialJail(config, 30'000);
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_FALSE(outcome->ok);
  EXPECT_NE(outcome->exit_code, 0);
  EXPECT_NE(outcome->log.find("/nonexistent/python3"), std::string::npos) << outcome->log;
}

TEST_P(TrialJailTest, AHelperThatCannotStartIsAnError) {
  SupervisorConfig config = RealConfig(GetParam());
  config.helper_path = "/nonexistent/pycage-jail";
  auto outcome = RunTrialJail(config, 30'000);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("/nonexistent/pycage-jail"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Tiers, TrialJailTest, ::testing::Values(Tier::kFull, Tier::kBypass),
                         [](const auto& info) { return info.param == Tier::kFull ? "Full" : "Bypass"; });

// A helper that fails the way a masked /proc makes pycage-jail fail.
std::string FailingHelper() {
  char dir[] = "/tmp/pycage-trial-test-XXXXXX";
  if (mkdtemp(dir) == nullptr) return {};
  const std::string path = std::string(dir) + "/pycage-jail";
  std::ofstream(path) << "#!/bin/sh\n"
                         "echo 'pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, 0): "
                         "Operation not permitted (errno 1)' >&2\nexit 125\n";
  chmod(path.c_str(), 0755);
  return path;
}

TEST(SupervisorSetupFailure, NamesTheJailStepNotTheInterpreter) {
  const std::string helper = FailingHelper();
  ASSERT_FALSE(helper.empty());
  SupervisorConfig config = RealConfig(Tier::kFull);
  config.helper_path = helper;
  std::mutex mutex;
  std::condition_variable changed;
  bool got = false;
  RunOutcome outcome;
  config.on_outcome = [&](RunOutcome o) {
    std::lock_guard<std::mutex> lock(mutex);
    outcome = std::move(o);
    got = true;
    changed.notify_all();
  };
  auto started = Supervisor::Start(std::move(config));
  ASSERT_TRUE(started.ok()) << started.status().message();
  RunRequest request;
  request.id = 1;
  request.code = "1";
  request.inputs_json = "{}";
  ASSERT_TRUE((*started)->Submit(std::move(request)).ok());
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(30), [&] { return got; }));
  }
  EXPECT_EQ(outcome.rejection.code(), ErrorCode::kIsolationUnavailable);
  EXPECT_NE(outcome.rejection.message().find("the jail could not be set up on this host"), std::string::npos)
      << outcome.rejection.message();
  EXPECT_NE(outcome.rejection.message().find("mount(proc, /newroot/proc, proc, 0)"), std::string::npos);
  EXPECT_EQ(outcome.rejection.message().find("python3 -I -S"), std::string::npos);
  bool finished = false;
  (*started)->Shutdown([&] {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
    changed.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return finished; }));
  }
  (*started)->Join();
  unlink(helper.c_str());
  rmdir(helper.substr(0, helper.rfind('/')).c_str());
}

}  // namespace
}  // namespace pycage
