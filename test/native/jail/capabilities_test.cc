// LimitTo empties every capability set but what it keeps, the bounding set
// up to this kernel's last capability included, with one prctl per
// capability (a run pays for each).
#include "jail/capabilities.h"

#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

using pycage::jail::capabilities::LimitTo;

// A capability mask of /proc/self/status ("CapBnd", "CapEff"…); ~0 when absent.
uint64_t StatusMask(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1), nullptr, 16);
  }
  return ~0ULL;
}

// Runs LimitTo(keep) in a forked child: 0 when its sets are `keep` at most
// and its bounding set exactly `keep`.
int LimitInChild(uint64_t keep) {
  const pid_t pid = fork();
  if (pid == 0) {
    const pycage::Status s = LimitTo(keep);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      _exit(1);
    }
    if (StatusMask("CapBnd") != keep) _exit(2);
    if ((StatusMask("CapEff") & ~keep) != 0 || (StatusMask("CapPrm") & ~keep) != 0) _exit(3);
    if (StatusMask("CapInh") != 0 || StatusMask("CapAmb") != 0) _exit(4);
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(Capabilities, LimitToZeroEmptiesTheBoundingSetToTheLastCapability) {
  if (geteuid() != 0 || StatusMask("CapBnd") == 0) GTEST_SKIP() << "needs a bounding set to drop (root)";
  EXPECT_EQ(LimitInChild(0), 0) << "1: LimitTo failed, 2: bounding set, 3: effective or permitted, 4: inheritable";
}

TEST(Capabilities, LimitToKeepsWhatItIsAsked) {
  if (geteuid() != 0 || (StatusMask("CapEff") & (1ULL << CAP_SETUID)) == 0) GTEST_SKIP() << "needs CAP_SETUID";
  const uint64_t keep = (1ULL << CAP_SETUID) | (1ULL << CAP_SETGID);
  EXPECT_EQ(LimitInChild(keep & StatusMask("CapBnd")), 0);
}

}  // namespace
