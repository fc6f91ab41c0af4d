#include "jail/jail_plan.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pycage::jail {
namespace {

HostFacts RootFacts() {
  HostFacts f;
  f.root = true;
  f.uid = 0;
  f.gid = 0;
  f.system_paths = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache",
                    "/etc/alternatives", "/etc/localtime"};
  return f;
}

JailOptions Parse(std::vector<std::string> args) {
  auto o = ParseArgs(args);
  EXPECT_TRUE(o.ok()) << o.status().message();
  return o.ok() ? o.value() : JailOptions{};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

size_t IndexOf(const std::vector<std::string>& lines, const std::string& line) {
  return static_cast<size_t>(std::find(lines.begin(), lines.end(), line) - lines.begin());
}

TEST(ParseArgs, ReadsEveryOption) {
  JailOptions o = Parse({"--tier", "full", "--uid-base", "100000", "--uid-count", "8", "--ro-bind",
                         "/opt/py:/py", "--ro-bind", "/data", "--tmpfs-bytes", "1048576", "--setenv",
                         "A=1", "--control-fd", "5", "--parent-pid", "42", "--", "/bin/sh", "-c", "x"});
  EXPECT_EQ(o.tier, Tier::kFull);
  EXPECT_EQ(o.uid_base.value_or(0), 100000u);
  EXPECT_EQ(o.uid_count, 8u);
  ASSERT_EQ(o.ro_binds.size(), 2u);
  EXPECT_EQ(o.ro_binds[0].src, "/opt/py");
  EXPECT_EQ(o.ro_binds[0].dst, "/py");
  EXPECT_EQ(o.ro_binds[1].dst, "/data");
  EXPECT_EQ(o.tmpfs_bytes, 1048576u);
  EXPECT_EQ(o.control_fd, 5);
  EXPECT_TRUE(o.control_fd_explicit);
  EXPECT_EQ(o.parent_pid, 42);
  EXPECT_EQ(o.argv, (std::vector<std::string>{"/bin/sh", "-c", "x"}));
}

TEST(ParseArgs, RejectsMistakesNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--tier", "half", "--", "/bin/true"}, "Expected full or bypass for --tier but received 'half'"},
      {{"--ro-bind", "usr", "--", "/bin/true"},
       "Expected SRC[:DST] with absolute paths, no '..', DST not / for --ro-bind but received 'usr'"},
      {{"--ro-bind", "/a/../etc", "--", "/bin/true"},
       "Expected SRC[:DST] with absolute paths, no '..', DST not / for --ro-bind but received '/a/../etc'"},
      {{"--setenv", "NOEQUALS", "--", "/bin/true"}, "Expected KEY=VALUE for --setenv but received 'NOEQUALS'"},
      {{"--tmpfs-bytes", "12k", "--", "/bin/true"},
       "Expected a byte count of at least 4096 for --tmpfs-bytes but received '12k'"},
      {{"--uid-bse", "1", "--", "/bin/true"}, "for the command line but received '--uid-bse'"},
      {{"--tier"}, "Expected a value for --tier but received 'nothing'"},
      {{"--tier", "full"}, "Expected -- PROGRAM ARGS... for PROGRAM but received 'no program'"},
      {{"--", "sh"}, "Expected an absolute path (there is no PATH search) for PROGRAM but received 'sh'"},
  };
  for (const auto& c : cases) {
    auto o = ParseArgs(c.args);
    ASSERT_FALSE(o.ok()) << c.message;
    EXPECT_EQ(o.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(o.status().message().find(c.message), std::string::npos) << o.status().message();
  }
}

TEST(ParseArgs, ProbeAndPrintPlanNeedNoProgram) {
  EXPECT_EQ(Parse({"--probe"}).mode, Mode::kProbe);
  EXPECT_EQ(Parse({"--print-plan"}).mode, Mode::kPrintPlan);
}

TEST(BuildPlan, FullTierAsRootMapsTheUidRangeAndOrdersSteps) {
  auto plan = BuildPlan(Parse({"--uid-base", "100000", "--uid-count", "4", "--ro-bind",
                               "/root/.pyenv/versions/3.11.7", "--tmpfs-bytes", "65536", "--",
                               "/usr/bin/python3"}),
                        RootFacts());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto lines = Lines(FormatPlan(plan.value()));
  EXPECT_EQ(lines.front(), "helper set-parent-death-signal 9");
  EXPECT_EQ(lines.back(), "child  execve /usr/bin/python3");
  EXPECT_EQ(lines[lines.size() - 2], "child  apply-seccomp");
  // Root needs no setgroups deny; both maps take the same range.
  EXPECT_EQ(IndexOf(lines, "parent deny-setgroups"), lines.size());
  EXPECT_LT(IndexOf(lines, "parent write-uid-map 0 100000 4"), lines.size());
  EXPECT_LT(IndexOf(lines, "parent write-gid-map 0 100000 4"), lines.size());
  // Sources are opened before the uid switch; binds follow the pivot to the base.
  size_t open_src = IndexOf(lines, "child  open-bind-sources");
  size_t become = IndexOf(lines, "child  become-jail-root");
  size_t pivot = IndexOf(lines, "child  pivot-to-base /tmp /oldroot");
  size_t bind = IndexOf(lines, "child  ro-bind /root/.pyenv/versions/3.11.7 /newroot/root/.pyenv/versions/3.11.7");
  size_t usr = IndexOf(lines, "child  ro-bind /usr /newroot/usr");
  EXPECT_LT(open_src, become);
  EXPECT_LT(become, pivot);
  EXPECT_LT(pivot, usr);
  EXPECT_LT(usr, bind);
  EXPECT_LT(bind, IndexOf(lines, "child  mount-proc /newroot/proc"));
  EXPECT_LT(IndexOf(lines, "child  mount-tmp /newroot/tmp size=65536"),
            IndexOf(lines, "child  remount-ro /newroot"));
  EXPECT_LT(IndexOf(lines, "child  remount-ro /newroot"), IndexOf(lines, "child  pivot-to-newroot /newroot"));
  EXPECT_LT(IndexOf(lines, "child  no-new-privs"), IndexOf(lines, "child  apply-seccomp"));
  EXPECT_LT(IndexOf(lines, "child  setsid"), IndexOf(lines, "child  apply-seccomp"));
}

TEST(BuildPlan, UnprivilegedDeniesSetgroupsAndMapsOwnIds) {
  HostFacts f = RootFacts();
  f.root = false;
  f.uid = 1000;
  f.gid = 1001;
  auto plan = BuildPlan(Parse({"--", "/bin/true"}), f);
  ASSERT_TRUE(plan.ok());
  auto lines = Lines(FormatPlan(plan.value()));
  size_t deny = IndexOf(lines, "parent deny-setgroups");
  ASSERT_LT(deny, lines.size());
  EXPECT_LT(deny, IndexOf(lines, "parent write-gid-map 0 1001 1"));
  EXPECT_LT(IndexOf(lines, "parent write-uid-map 0 1000 1"), lines.size());
  auto refused = BuildPlan(Parse({"--uid-base", "100000", "--", "/bin/true"}), f);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "Expected host root for --uid-base but received uid 1000");
}

TEST(BuildPlan, BypassTierHasNoNamespacesMountsOrSeccomp) {
  auto plan = BuildPlan(Parse({"--tier", "bypass", "--", "/bin/true"}), RootFacts());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(FormatPlan(plan.value()),
            "helper set-parent-death-signal 9\n"
            "helper setup-fds\n"
            "helper setsid\n"
            "helper rlimit-core-0\n"
            "helper no-new-privs\n"
            "helper execve /bin/true\n");
  EXPECT_EQ(plan->env, std::vector<std::string>{"PYCAGE_TIER=bypass"});
}

TEST(BuildPlan, EnvironmentIsSetenvPlusTierLaterKeysWin) {
  auto plan = BuildPlan(Parse({"--setenv", "A=1", "--setenv", "B=2", "--setenv", "A=3", "--setenv",
                               "PYCAGE_TIER=bypass", "--", "/bin/true"}),
                        RootFacts());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->env, (std::vector<std::string>{"B=2", "A=3", "PYCAGE_TIER=full"}));
}

}  // namespace
}  // namespace pycage::jail
