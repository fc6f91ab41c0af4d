// cgroup2.cc against a plain temporary directory (CgroupFs with the magic
// check off and interface files created on write), and the helper against a
// real delegated subtree when PYCAGE_TEST_CGROUP_ROOT names one.
#include "jail/cgroup2.h"

#include <dirent.h>
#include <sys/wait.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "subprocess.h"

namespace pycage::jail::cgroup2 {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

class PlainCgroupFs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pycage-cgroup2-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs_.root = root_;
    fs_.check_magic = false;
    fs_.plain_directory = true;
  }
  void TearDown() override {
    testing::Run({"/bin/rm", "-rf", root_});
  }
  std::string root_;
  CgroupFs fs_;
};

TEST_F(PlainCgroupFs, ValidateWantsPidsAndMemoryInSubtreeControl) {
  Status s = Validate(fs_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cgroup2: open(" + root_ + "/cgroup.subtree_control, O_RDONLY): No such file or "
                             "directory (errno 2); delegate a cgroup v2 subtree (systemd Delegate=yes)"),
            std::string::npos)
      << s.message();

  WriteText(root_ + "/cgroup.subtree_control", "cpu memory\n");
  s = Validate(fs_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "cgroup2: cgroup root " + root_ + " does not have the pids controller enabled in " + root_ +
                             "/cgroup.subtree_control (it lists 'cpu memory'), so its children get no pids.max; run "
                             "`echo +pids > " + root_ +
                             "/cgroup.subtree_control` in a delegated cgroup v2 subtree (systemd Delegate=yes), "
                             "or omit cgroupRoot");

  WriteText(root_ + "/cgroup.subtree_control", "pids\n");
  s = Validate(fs_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not have the memory controller enabled"), std::string::npos) << s.message();

  WriteText(root_ + "/cgroup.subtree_control", "cpuset cpu io memory pids\n");
  s = Validate(fs_);
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(PlainCgroupFs, ValidateChecksTheFilesystemMagic) {
  WriteText(root_ + "/cgroup.subtree_control", "memory pids\n");
  CgroupFs real{root_};  // the production setting: magic checked
  Status s = Validate(real);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cgroup2: cgroup root " + root_ + " is not on a cgroup v2 filesystem (statfs f_type 0x"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("expected 0x63677270); delegate a cgroup v2 subtree"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("or omit cgroupRoot"), std::string::npos);

  Status missing = Validate(CgroupFs{root_ + "/nope"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("cgroup2: statfs(" + root_ + "/nope): No such file or directory (errno 2)"),
            std::string::npos)
      << missing.message();
}

TEST_F(PlainCgroupFs, CreateWritesExactlyTheLimits) {
  auto dir = Create(fs_, "pycage-1-00000000", Limits{77, 1ULL << 30});
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  EXPECT_EQ(dir.value(), root_ + "/pycage-1-00000000");
  EXPECT_EQ(Entries(dir.value()), (std::vector<std::string>{"memory.max", "pids.max"}));
  EXPECT_EQ(ReadFile(dir.value() + "/pids.max"), "77\n");
  EXPECT_EQ(ReadFile(dir.value() + "/memory.max"), "1073741824\n");

  ASSERT_TRUE(Attach(fs_, dir.value(), 4242).ok());
  EXPECT_EQ(ReadFile(dir.value() + "/cgroup.procs"), "4242\n");

  ASSERT_TRUE(Remove(fs_, dir.value()).ok());
  EXPECT_FALSE(Exists(dir.value()));
  EXPECT_TRUE(Entries(root_).empty());
  // Removing twice is fine (the helper's error path may get there too).
  EXPECT_TRUE(Remove(fs_, dir.value()).ok());
}

TEST_F(PlainCgroupFs, SwapIsZeroedOnlyWhereTheKernelHasTheFile) {
  const std::string dir = root_ + "/with-swap";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  WriteText(dir + "/memory.swap.max", "max\n");
  ASSERT_TRUE(WriteLimits(fs_, dir, Limits{5, 2ULL << 20}).ok());
  EXPECT_EQ(ReadFile(dir + "/memory.swap.max"), "0\n");
  EXPECT_EQ(ReadFile(dir + "/pids.max"), "5\n");
  EXPECT_EQ(ReadFile(dir + "/memory.max"), "2097152\n");
  ASSERT_TRUE(Remove(fs_, dir).ok());
  EXPECT_FALSE(Exists(dir));
}

TEST_F(PlainCgroupFs, FailedWriteNamesTheFileAndRemovesTheDirectory) {
  // Without plain_directory the files must already exist, as on cgroupfs:
  // a missing pids.max means the controller is not delegated.
  CgroupFs strict = fs_;
  strict.plain_directory = false;
  auto dir = Create(strict, "pycage-2-00000000", Limits{8, 1ULL << 20});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("cgroup2: open(" + root_ +
                                        "/pycage-2-00000000/pids.max, O_WRONLY): No such file or directory (errno 2); "
                                        "delegate a cgroup v2 subtree (systemd Delegate=yes)"),
            std::string::npos)
      << dir.status().message();
  EXPECT_FALSE(Exists(root_ + "/pycage-2-00000000"));

  auto nested = Create(fs_, "missing/x", Limits{8, 1ULL << 20});
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("cgroup2: mkdir(" + root_ + "/missing/x): No such file or directory"),
            std::string::npos)
      << nested.status().message();

  Status attach = Attach(strict, root_ + "/gone", 1);
  ASSERT_FALSE(attach.ok());
  EXPECT_NE(attach.message().find("/gone/cgroup.procs, O_WRONLY): No such file or directory (errno 2); moving a "
                                  "process needs write access to cgroup.procs of the common ancestor"),
            std::string::npos)
      << attach.message();
}

TEST(Cgroup2, NamesAreHelperPidPlusRandomHex) {
  std::string a = NewName(1234);
  std::string b = NewName(1234);
  EXPECT_TRUE(std::regex_match(a, std::regex("pycage-1234-[0-9a-f]{8}"))) << a;
  EXPECT_NE(a, b);
}

TEST(Cgroup2, CheckExplainsWhyARootIsUnusable) {
  Availability none = Check("");
  EXPECT_FALSE(none.available);
  EXPECT_NE(none.reason.find("set PYCAGE_CGROUP_ROOT (or pass --cgroup-root)"), std::string::npos) << none.reason;
  Availability tmp = Check("/tmp");
  EXPECT_FALSE(tmp.available);
  EXPECT_NE(tmp.reason.find("cgroup root /tmp is not on a cgroup v2 filesystem"), std::string::npos) << tmp.reason;
}

TEST(Cgroup2Helper, ProbeReportsTheRootFromTheEnvironment) {
  testing::Outcome o = testing::Run({PYCAGE_JAIL, "--probe"}, {"PYCAGE_CGROUP_ROOT=/tmp"});
  ASSERT_EQ(o.code(), 0) << o.err;
  EXPECT_NE(o.out.find(",\"cgroup2\":{\"available\":false,\"reason\":\"cgroup2: cgroup root /tmp is not on a cgroup v2 "
                       "filesystem"),
            std::string::npos)
      << o.out;
  o = testing::Run({PYCAGE_JAIL, "--probe", "--cgroup-root", "/proc"}, {"PYCAGE_CGROUP_ROOT=/tmp"});
  EXPECT_NE(o.out.find("cgroup root /proc is not on a cgroup v2 filesystem"), std::string::npos) << o.out;
}

TEST(Cgroup2Helper, RefusesARootThatIsNotDelegatedCgroup2) {
  testing::Outcome o = testing::Run({PYCAGE_JAIL, "--cgroup-root", "/tmp", "--cgroup-pids-max", "16",
                                     "--cgroup-memory-max", "268435456", "--", "/bin/true"});
  EXPECT_EQ(o.code(), 125);
  EXPECT_EQ(o.err.rfind("pycage-jail: cgroup2: cgroup root /tmp is not on a cgroup v2 filesystem", 0), 0u) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

// The real thing: only where the environment names a delegated subtree, e.g.
//   mkdir /sys/fs/cgroup/pycage-test && echo +pids +memory > /sys/fs/cgroup/pycage-test/cgroup.subtree_control
//   PYCAGE_TEST_CGROUP_ROOT=/sys/fs/cgroup/pycage-test ctest -L jail
TEST(Cgroup2Helper, JailRunsInItsOwnCgroupAndItIsRemovedAfterwards) {
  const char* root = std::getenv("PYCAGE_TEST_CGROUP_ROOT");
  if (root == nullptr || *root == '\0') {
    GTEST_SKIP() << "PYCAGE_TEST_CGROUP_ROOT is not set: it must name a delegated cgroup v2 directory whose "
                    "cgroup.subtree_control lists pids and memory (this host has none)";
  }
  std::vector<std::string> argv = {PYCAGE_JAIL, "--cgroup-root", root, "--cgroup-pids-max", "37",
                                   "--cgroup-memory-max", "268435456"};
  if (geteuid() == 0) argv.insert(argv.end(), {"--uid-base", "100000", "--uid-count", "2"});
  // The program only has to live long enough for us to look at its cgroup.
  argv.insert(argv.end(), {"--", "/bin/sh", "-c", "sleep 1"});
  // Watch the root while the jail runs.
  std::vector<std::string> seen;
  std::string pids_max;
  std::string memory_max;
  std::string procs;
  pid_t helper = fork();
  if (helper == 0) {
    std::vector<char*> a;
    a.reserve(argv.size() + 1);
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  // The limits are written before the child is attached: once cgroup.procs
  // lists it, what we read is final.
  for (int i = 0; i < 100 && procs.empty(); ++i) {
    usleep(20000);
    seen.clear();
    for (const auto& e : Entries(root)) {
      if (e.rfind("pycage-" + std::to_string(helper) + "-", 0) != 0) continue;
      seen.push_back(e);
      const std::string dir = std::string(root) + "/" + e;
      procs = ReadFile(dir + "/cgroup.procs");
      pids_max = ReadFile(dir + "/pids.max");
      memory_max = ReadFile(dir + "/memory.max");
    }
  }
  int status = 0;
  waitpid(helper, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(pids_max, "37\n");
  EXPECT_EQ(memory_max, "268435456\n");
  EXPECT_FALSE(procs.empty());  // the jail's pid 1 (and the sleep)
  EXPECT_FALSE(Exists(std::string(root) + "/" + seen[0]));
}

}  // namespace
}  // namespace pycage::jail::cgroup2
