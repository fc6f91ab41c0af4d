// The reduced tier's filesystem rules, for real: a forked child restricts
// itself (landlock::RestrictFilesystem, then reduced_run::Execute) and
// reports what it could open; the parent checks each answer.
#include "jail/landlock.h"
#include "jail/reduced_run.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace pycage::jail {
namespace {

// Runs `body` in a forked child; its return value (an errno, or 0) becomes
// the child's exit code, which this returns (-1 if it died otherwise).
template <typename Body>
int InChild(Body body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

int OpenErrno(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

class LandlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (landlock::AbiVersion() < 1) GTEST_SKIP() << "this kernel has no Landlock";
    char pattern[] = "/tmp/pycage-landlock-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    std::filesystem::create_directories(root_ + "/readable");
    std::filesystem::create_directories(root_ + "/writable");
    std::filesystem::create_directories(root_ + "/other");
    WriteFile(root_ + "/readable/in.txt");
    WriteFile(root_ + "/other/secret.txt");
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  static void WriteFile(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(write(fd, "x", 1), 1);
    close(fd);
  }
  std::string root_;
};

TEST_F(LandlockTest, ReadsOnlyWhatItListsAndWritesOnlyBelowItsWriteTree) {
  const std::string root = root_;
  auto restricted = [root](int check) {
    return InChild([&] {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 100;
      auto read = landlock::OpenPath(root + "/readable");
      auto write = landlock::OpenPath(root + "/writable");
      if (!read.ok() || !write.ok()) return 101;
      landlock::FsRules rules;
      rules.read = {read.value()};
      rules.write = {write.value()};
      if (!landlock::RestrictFilesystem(rules).ok()) return 102;
      switch (check) {
        case 0: return OpenErrno(root + "/readable/in.txt", O_RDONLY);
        case 1: return OpenErrno(root + "/readable/new.txt", O_WRONLY | O_CREAT);
        case 2: return OpenErrno(root + "/other/secret.txt", O_RDONLY);
        case 3: return OpenErrno(root + "/writable/new.txt", O_WRONLY | O_CREAT);
        case 4: return OpenErrno("/etc/passwd", O_RDONLY);
        case 5: return mkdir((root + "/writable/d").c_str(), 0700) == 0 ? 0 : errno;
        default: return 103;
      }
    });
  };
  EXPECT_EQ(restricted(0), 0) << "a listed file reads";
  EXPECT_EQ(restricted(1), EACCES) << "a read-only tree takes no new file";
  EXPECT_EQ(restricted(2), EACCES) << "an unlisted tree is out of reach";
  EXPECT_EQ(restricted(3), 0) << "the write tree takes new files";
  EXPECT_EQ(restricted(4), EACCES) << "the rest of the host is out of reach";
  EXPECT_EQ(restricted(5), 0) << "and new directories";
}

TEST_F(LandlockTest, ARunNarrowsItsZygoteAndNeverWidensIt) {
  // The zygote may write the whole scratch tree; a run re-grants the
  // read-only paths and writes only its own directory: its sibling's is
  // out of reach, and a grant its zygote never had gives nothing.
  const std::string root = root_;
  int outcome = InChild([&] {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 100;
    auto readable = landlock::OpenPath(root + "/readable");
    auto scratch = landlock::OpenPath(root + "/writable");
    if (!readable.ok() || !scratch.ok()) return 101;
    landlock::FsRules zygote;
    zygote.read = {readable.value()};
    zygote.write = {scratch.value()};
    if (!landlock::RestrictFilesystem(zygote).ok()) return 102;
    if (mkdir((root + "/writable/r1").c_str(), 0700) != 0 || mkdir((root + "/writable/r2").c_str(), 0700) != 0) return 103;
    auto mine = landlock::OpenPath(root + "/writable/r1");
    auto other = landlock::OpenPath(root + "/other");  // never granted to the zygote
    if (!mine.ok()) return 104;
    reduced_run::Spec run;
    run.read_fds = {readable.value()};
    run.write_fds = {mine.value()};
    if (other.ok()) run.read_fds.push_back(other.value());
    if (!reduced_run::Execute(run).ok()) return 105;
    if (OpenErrno(root + "/writable/r1/x", O_WRONLY | O_CREAT) != 0) return 106;
    if (OpenErrno(root + "/writable/r2/x", O_WRONLY | O_CREAT) != EACCES) return 107;
    if (OpenErrno(root + "/other/secret.txt", O_RDONLY) != EACCES) return 108;
    if (OpenErrno(root + "/readable/in.txt", O_RDONLY) != 0) return 109;
    // Landlock's signal scope (ABI 6): the parent is outside the domain.
    if (landlock::AbiVersion() >= landlock::kScopeAbi && kill(getppid(), 0) == 0) return 110;
    return 0;
  });
  // other.ok() may fail before the restriction only if the path vanished.
  EXPECT_EQ(outcome, 0) << "step code " << outcome;
}

}  // namespace
}  // namespace pycage::jail
