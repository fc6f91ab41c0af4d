#include "supervisor/scratch_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace pycage {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

char StateOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? '?' : text[paren + 2];
}

// A TMPDIR of its own, holding a scratch tree named after `pid` with a file
// and a directory its run made unreadable, as a killed host leaves them.
class ScratchSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/pycage-sweep-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    base_ = pattern;
    const char* old = std::getenv("TMPDIR");
    old_tmpdir_ = old != nullptr ? old : "";
    had_tmpdir_ = old != nullptr;
    setenv("TMPDIR", base_.c_str(), 1);
  }
  void TearDown() override {
    if (had_tmpdir_) setenv("TMPDIR", old_tmpdir_.c_str(), 1); else unsetenv("TMPDIR");
    std::system(("chmod -R u+rwx " + base_ + " 2>/dev/null; rm -rf " + base_).c_str());
  }
  std::string LeftBy(pid_t pid) {
    const std::string tree = base_ + "/pycage-scratch-" + std::to_string(pid) + "-left";
    EXPECT_EQ(mkdir(tree.c_str(), 0700), 0);
    EXPECT_EQ(mkdir((tree + "/r1").c_str(), 0700), 0);
    std::ofstream(tree + "/r1/out.txt") << "x";
    EXPECT_EQ(chmod((tree + "/r1").c_str(), 0), 0);
    return tree;
  }
  std::string base_;
  std::string old_tmpdir_;
  bool had_tmpdir_ = false;
};

TEST_F(ScratchSweep, RemovesTheTreeOfAHostThatIsGone) {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const std::string tree = LeftBy(pid);
  auto made = ScratchDir::Create(static_cast<uid_t>(-1));
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_FALSE(Exists(tree));
  EXPECT_TRUE(Exists(made->path()));
}

TEST_F(ScratchSweep, RemovesTheTreeOfAHostLeftAZombie) {
  // A SIGKILLed host whose parent never reaps it (a container's pid 1 that
  // does not reap) still answers kill(pid, 0): its tree must go all the same.
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  for (int i = 0; i < 500 && StateOf(pid) != 'Z'; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(StateOf(pid), 'Z');
  const std::string tree = LeftBy(pid);
  auto made = ScratchDir::Create(static_cast<uid_t>(-1));
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_FALSE(Exists(tree));
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
}

TEST_F(ScratchSweep, LeavesTheTreeOfALiveHostAlone) {
  const pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  const std::string tree = LeftBy(pid);
  auto made = ScratchDir::Create(static_cast<uid_t>(-1));
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_TRUE(Exists(tree + "/r1"));
  kill(pid, SIGKILL);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
}

}  // namespace
}  // namespace pycage
