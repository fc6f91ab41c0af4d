// How SupervisorConfig's cgroup fields and the reduced tier's lanes become
// pycage-jail options.
#include <gtest/gtest.h>

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/host_identity.h"
#include "supervisor/zygote.h"

namespace pycage {
namespace {

SupervisorConfig Config() {
  SupervisorConfig c;
  c.helper_path = "/opt/pycage/pycage-jail";
  c.runner_dir = "/opt/pycage/runner";
  c.python = "/usr/bin/python3";
  c.python_prefixes = {"/usr"};
  c.concurrency = 4;
  return c;
}

// The value after `flag`, or "" when the flag is absent.
std::string ValueOf(const std::vector<std::string>& args, const std::string& flag) {
  auto it = std::find(args.begin(), args.end(), flag);
  return it == args.end() || it + 1 == args.end() ? std::string() : *(it + 1);
}

TEST(BuildZygoteArgs, NoCgroupRootNoCgroupOptions) {
  auto args = BuildZygoteArgs(Config(), 100000, 6);
  for (const char* flag : {"--cgroup-root", "--cgroup-pids-max", "--cgroup-memory-max"}) {
    EXPECT_EQ(std::find(args.begin(), args.end(), flag), args.end()) << flag;
  }
}

TEST(BuildZygoteArgs, CgroupOptionsCarryTheConfiguredSizes) {
  SupervisorConfig c = Config();
  c.cgroup_root = "/sys/fs/cgroup/app/pycage";
  c.cgroup_pids_max = 99;
  c.cgroup_memory_max = 3ULL << 30;
  auto args = BuildZygoteArgs(c, 100000, 6);
  EXPECT_EQ(ValueOf(args, "--cgroup-root"), "/sys/fs/cgroup/app/pycage");
  EXPECT_EQ(ValueOf(args, "--cgroup-pids-max"), "99");
  EXPECT_EQ(ValueOf(args, "--cgroup-memory-max"), std::to_string(3ULL << 30));
  // Options come before "--": everything after it is the zygote's argv.
  auto dashdash = std::find(args.begin(), args.end(), "--");
  EXPECT_LT(std::find(args.begin(), args.end(), "--cgroup-root"), dashdash);
}

TEST(BuildZygoteArgs, BypassTierGetsNoCgroup) {
  SupervisorConfig c = Config();
  c.tier = Tier::kBypass;
  c.cgroup_root = "/sys/fs/cgroup/app/pycage";
  auto args = BuildZygoteArgs(c, 100000, 6);
  EXPECT_EQ(std::find(args.begin(), args.end(), "--cgroup-root"), args.end());
}

bool HasSetenv(const std::vector<std::string>& args, const std::string& prefix) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--setenv" && args[i + 1].rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST(BuildZygoteArgs, EveryTierBindsTheInterpretersSymbolsAtLoad) {
  // Lazy binding would resolve each libc call anew in every fork that makes
  // it first; the zygote drops the variable before any run (zygote.py).
  for (Tier tier : {Tier::kFull, Tier::kReduced, Tier::kBypass}) {
    SupervisorConfig c = Config();
    c.tier = tier;
    EXPECT_TRUE(HasSetenv(BuildZygoteArgs(c, 100000, 6), "LD_BIND_NOW=1")) << static_cast<int>(tier);
  }
}

TEST(ZygoteLanes, FullTierRunsOneZygoteForEveryRun) { EXPECT_EQ(ZygoteLanes(Config(), 100000, 8), 1U); }

TEST(ZygoteLanes, ReducedTierAsRootGivesEachConcurrentRunAZygoteUnderAUidOfItsOwn) {
  if (geteuid() != 0) GTEST_SKIP() << "a uid per zygote needs host root";
  SupervisorConfig c = Config();
  c.tier = Tier::kReduced;
  c.helper_path = "/usr/bin/pycage-jail";  // directories every uid may search
  c.runner_dir = "/usr/share";
  ASSERT_EQ(ZygoteLanes(c, 100000, 8), 4U);
  // Distinct uids, counting down from the top of the range, each alone in its map.
  auto first = BuildZygoteArgs(c, 100000, 8, "/tmp/scratch", 0);
  auto last = BuildZygoteArgs(c, 100000, 8, "/tmp/scratch", 3);
  EXPECT_EQ(ValueOf(first, "--uid-base"), "100007");
  EXPECT_EQ(ValueOf(last, "--uid-base"), "100004");
  EXPECT_EQ(ValueOf(last, "--uid-count"), "1");
  // The zygote counts its own processes per run; no pool-wide base.
  EXPECT_TRUE(HasSetenv(last, "PYCAGE_LANE_UID=1"));
  EXPECT_FALSE(HasSetenv(last, "PYCAGE_PROCESSES_BASE="));
}

TEST(HostIdentity, MapsUidsReadsTheInitialNamespacesWholeMap) {
  std::ifstream map("/proc/self/uid_map");
  std::stringstream text;
  text << map.rdbuf();
  std::istringstream fields(text.str());
  uint64_t inside = 1, outside = 1, count = 0;
  fields >> inside >> outside >> count;
  if (inside != 0 || outside != 0 || count != 4294967295ULL) GTEST_SKIP() << "not the initial user namespace";
  EXPECT_TRUE(MapsUids(0, 4294967295ULL));
  EXPECT_TRUE(MapsUids(kPoolUidFirst, kPoolUidSpan));
  EXPECT_FALSE(MapsUids(1, 4294967295ULL));  // one past the end
}

TEST(HostIdentity, RootWithoutCapSetuidMayNotSwitchToPoolUids) {
  if (geteuid() != 0 || !HoldsSetIdCapabilities()) GTEST_SKIP() << "needs root with CAP_SETUID";
  EXPECT_TRUE(MaySwitchToPoolUids() || !MapsUids(kPoolUidFirst, kPoolUidSpan));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Drop CAP_SETUID from the effective set only, as a container's
    // --cap-drop SETUID would (the permitted set keeps it: still refused).
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) _exit(3);
    data[CAP_TO_INDEX(CAP_SETUID)].effective &= ~CAP_TO_MASK(CAP_SETUID);
    if (syscall(SYS_capset, &header, data) != 0) _exit(4);
    _exit(!HoldsSetIdCapabilities() && !MaySwitchToPoolUids() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace pycage
