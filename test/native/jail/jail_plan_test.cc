#include "jail/jail_plan.h"
#include "jail/jail_init.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>
#include <sstream>

namespace pycage::jail {
namespace {

HostFacts RootFacts() {
  HostFacts f;
  f.root = true;
  f.uid = 0;
  f.gid = 0;
  f.system_paths = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache",
                    "/etc/alternatives", "/etc/localtime"};
  f.confine_lib = "/opt/pycage/build/Release/pycage-confine.so";
  return f;
}

JailOptions Parse(std::vector<std::string> args) {
  auto o = ParseArgs(args);
  EXPECT_TRUE(o.ok()) << o.status().message();
  return o.ok() ? o.value() : JailOptions{};
}

// The jail's plan, one step per line, up to the run plan that follows it.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl - start);
    if (line.rfind("# each run", 0) == 0) break;
    out.push_back(line);
    start = nl + 1;
  }
  return out;
}

// The run plan printed after the jail's (run_jail.h).
std::vector<std::string> RunLines(const std::string& text) {
  size_t at = text.find("# each run");
  if (at == std::string::npos) return {};
  std::vector<std::string> out;
  size_t start = text.find('\n', at) + 1;
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
      {{"--tier", "half", "--", "/bin/true"}, "Expected full, reduced or bypass for --tier but received 'half'"},
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

TEST(ParseArgs, ReadsProfileBindsRlimitsAndCgroup) {
  JailOptions o = Parse({"--profile", "installer", "--bind", "/work/build:/build", "--bind", "/cache",
                         "--rlimit-as", "2147483648", "--rlimit-cpu", "60", "--rlimit-fsize", "1048576",
                         "--rlimit-nofile", "256", "--rlimit-cpu", "90", "--cgroup-root", "/sys/fs/cgroup/pycage/",
                         "--cgroup-pids-max", "128", "--cgroup-memory-max", "1073741824", "--", "/bin/true"});
  EXPECT_EQ(o.profile, Profile::kInstaller);
  ASSERT_EQ(o.rw_binds.size(), 2u);
  EXPECT_EQ(o.rw_binds[0].src, "/work/build");
  EXPECT_EQ(o.rw_binds[0].dst, "/build");
  EXPECT_EQ(o.rw_binds[1].src, "/cache");
  EXPECT_EQ(o.rw_binds[1].dst, "/cache");
  EXPECT_TRUE(o.ro_binds.empty());
  ASSERT_EQ(o.rlimits.size(), 4u);
  EXPECT_EQ(o.rlimits[0].name, "RLIMIT_AS");
  EXPECT_EQ(o.rlimits[0].value, 2147483648u);
  EXPECT_EQ(o.rlimits[1].name, "RLIMIT_CPU");
  EXPECT_EQ(o.rlimits[1].value, 90u);  // the later value wins, in the first one's place
  EXPECT_EQ(o.rlimits[2].name, "RLIMIT_FSIZE");
  EXPECT_EQ(o.rlimits[3].name, "RLIMIT_NOFILE");
  EXPECT_EQ(o.rlimits[3].value, 256u);
  EXPECT_EQ(o.cgroup_root, "/sys/fs/cgroup/pycage");
  EXPECT_EQ(o.cgroup_pids_max, 128u);
  EXPECT_EQ(o.cgroup_memory_max, 1073741824u);
  EXPECT_EQ(Parse({"--", "/bin/true"}).profile, Profile::kRun);
  EXPECT_EQ(Parse({"--profile", "run", "--", "/bin/true"}).profile, Profile::kRun);
}

TEST(ParseArgs, RejectsMalformedNewOptions) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--profile", "zygote", "--", "/bin/true"}, "Expected run or installer for --profile but received 'zygote'"},
      {{"--bind", "build", "--", "/bin/true"},
       "Expected SRC[:DST] with absolute paths, no '..', DST not / for --bind but received 'build'"},
      {{"--bind", "/build:/", "--", "/bin/true"},
       "Expected SRC[:DST] with absolute paths, no '..', DST not / for --bind but received '/build:/'"},
      {{"--rlimit-as", "0", "--", "/bin/true"}, "Expected a limit above 0 for --rlimit-as but received '0'"},
      {{"--rlimit-nofile", "lots", "--", "/bin/true"},
       "Expected a limit above 0 for --rlimit-nofile but received 'lots'"},
      {{"--rlimit-stack", "1", "--", "/bin/true"}, "for the command line but received '--rlimit-stack'"},
      {{"--cgroup-root", "cg", "--", "/bin/true"},
       "Expected an absolute directory path, no '..', not / for --cgroup-root but received 'cg'"},
      {{"--cgroup-root", "/cg", "--cgroup-pids-max", "8", "--", "/bin/true"},
       "Expected --cgroup-pids-max and --cgroup-memory-max as well for --cgroup-root but received 'only some of them'"},
      {{"--cgroup-pids-max", "8", "--cgroup-memory-max", "1048576", "--", "/bin/true"},
       "Expected --cgroup-root as well for --cgroup-pids-max/--cgroup-memory-max but received 'no --cgroup-root'"},
      {{"--cgroup-root", "/cg", "--cgroup-pids-max", "0", "--", "/bin/true"},
       "Expected a process count above 0 for --cgroup-pids-max but received '0'"},
      {{"--cgroup-root", "/cg", "--cgroup-memory-max", "4096", "--", "/bin/true"},
       "Expected a byte count of at least 1048576 for --cgroup-memory-max but received '4096'"},
  };
  for (const auto& c : cases) {
    auto o = ParseArgs(c.args);
    ASSERT_FALSE(o.ok()) << c.message;
    EXPECT_EQ(o.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(o.status().message().find(c.message), std::string::npos) << o.status().message();
  }
  // --probe takes a cgroup root alone (it only checks it).
  EXPECT_EQ(Parse({"--probe", "--cgroup-root", "/cg"}).cgroup_root, "/cg");
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

HostFacts InstallerFacts() {
  HostFacts f = RootFacts();
  f.network_files = {{"/run/systemd/resolve/stub-resolv.conf", "/etc/resolv.conf"},
                     {"/etc/hosts", "/etc/hosts"},
                     {"/etc/ssl", "/etc/ssl"}};
  f.masked_paths = {"/etc/ssl/private"};
  f.landlock_abi = 7;
  return f;
}

TEST(BuildPlan, InstallerSharesTheNetworkAndBindsItsConfiguration) {
  auto plan = BuildPlan(Parse({"--profile", "installer", "--ro-bind", "/root/.pyenv/versions/3.11.7", "--bind",
                               "/srv/build:/build", "--rlimit-nofile", "512", "--rlimit-as", "4294967296", "--",
                               "/usr/bin/python3"}),
                        InstallerFacts());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto lines = Lines(FormatPlan(plan.value()));
  const uint64_t flags = JailCloneFlags(Profile::kInstaller);
  EXPECT_EQ(flags & CLONE_NEWNET, 0u);
  EXPECT_EQ(flags | CLONE_NEWNET, JailCloneFlags(Profile::kRun));
  std::ostringstream clone;
  clone << "helper clone 0x" << std::hex << flags;
  EXPECT_LT(IndexOf(lines, clone.str()), lines.size()) << FormatPlan(plan.value());
  EXPECT_LT(IndexOf(lines, "helper compile-seccomp installer"), IndexOf(lines, clone.str()));
  // A symlinked resolv.conf is bound from the file it resolves to.
  size_t resolv = IndexOf(lines, "child  ro-bind /run/systemd/resolve/stub-resolv.conf /newroot/etc/resolv.conf");
  size_t ssl = IndexOf(lines, "child  ro-bind /etc/ssl /newroot/etc/ssl");
  size_t mask = IndexOf(lines, "child  mask /newroot/etc/ssl/private");
  size_t prefix = IndexOf(lines, "child  ro-bind /root/.pyenv/versions/3.11.7 /newroot/root/.pyenv/versions/3.11.7");
  EXPECT_LT(IndexOf(lines, "child  ro-bind /usr /newroot/usr"), resolv);
  EXPECT_LT(resolv, IndexOf(lines, "child  ro-bind /etc/hosts /newroot/etc/hosts"));
  EXPECT_LT(ssl, mask);
  EXPECT_LT(ssl, prefix);
  EXPECT_LT(mask, IndexOf(lines, "child  mount-proc /newroot/proc"));
  // Its own /proc: sysctls read-only, kernel knobs masked.
  size_t proc = IndexOf(lines, "child  mount-proc /newroot/proc");
  EXPECT_LT(proc, IndexOf(lines, "child  rebind-ro /newroot/proc/sys"));
  EXPECT_LT(IndexOf(lines, "child  rebind-ro /newroot/proc/sys"), lines.size());
  EXPECT_LT(proc, IndexOf(lines, "child  mask /newroot/proc/sysrq-trigger"));
  EXPECT_LT(IndexOf(lines, "child  mask /newroot/proc/sysrq-trigger"), lines.size());
  // The writable bind lands after /tmp, before the root goes read-only.
  size_t bind = IndexOf(lines, "child  bind /srv/build /newroot/build");
  EXPECT_LT(IndexOf(lines, "child  mount-tmp /newroot/tmp size=16777216"), bind);
  EXPECT_LT(bind, IndexOf(lines, "child  remount-ro /newroot"));
  // Process setup: stdio kept, limits set, every capability gone, Landlock
  // before the filter, the filter last.
  EXPECT_LT(IndexOf(lines, "child  setup-fds keep-stdio"), lines.size());
  EXPECT_EQ(IndexOf(lines, "child  setup-fds"), lines.size());
  EXPECT_LT(IndexOf(lines, "child  rlimit-core-0"), IndexOf(lines, "child  setrlimit RLIMIT_NOFILE 512"));
  EXPECT_LT(IndexOf(lines, "child  setrlimit RLIMIT_NOFILE 512"), IndexOf(lines, "child  setrlimit RLIMIT_AS 4294967296"));
  EXPECT_LT(IndexOf(lines, "child  setrlimit RLIMIT_AS 4294967296"), IndexOf(lines, "child  drop-capabilities"));
  EXPECT_LT(IndexOf(lines, "child  no-new-privs"), IndexOf(lines, "child  landlock-scope-abstract-unix"));
  EXPECT_EQ(lines[lines.size() - 3], "child  landlock-scope-abstract-unix");
  EXPECT_EQ(lines[lines.size() - 2], "child  apply-seccomp installer");
  EXPECT_EQ(lines.back(), "child  execve /usr/bin/python3");
}

TEST(BuildPlan, InstallerWithoutLandlockScopesRefusesUnixSockets) {
  HostFacts f = InstallerFacts();
  f.landlock_abi = 5;
  auto plan = BuildPlan(Parse({"--profile", "installer", "--", "/bin/true"}), f);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto lines = Lines(FormatPlan(plan.value()));
  EXPECT_LT(IndexOf(lines, "helper compile-seccomp installer-no-unix-socket"), lines.size());
  EXPECT_EQ(IndexOf(lines, "child  landlock-scope-abstract-unix"), lines.size());
  EXPECT_EQ(lines[lines.size() - 2], "child  apply-seccomp installer-no-unix-socket");
}

TEST(BuildPlan, RunFilterRefusesUnixSocketsWithoutLandlockScopes) {
  HostFacts f = RootFacts();
  f.landlock_abi = 7;
  auto scoped = BuildPlan(Parse({"--", "/bin/true"}), f);
  f.landlock_abi = 5;
  auto unscoped = BuildPlan(Parse({"--", "/bin/true"}), f);
  ASSERT_TRUE(scoped.ok());
  ASSERT_TRUE(unscoped.ok());
  EXPECT_LT(IndexOf(Lines(FormatPlan(scoped.value())), "helper compile-seccomp run"), Lines(FormatPlan(scoped.value())).size());
  EXPECT_LT(IndexOf(Lines(FormatPlan(unscoped.value())), "helper compile-seccomp run-no-unix-socket"),
            Lines(FormatPlan(unscoped.value())).size());
}

TEST(BuildPlan, ReducedTierConfinesItselfWithoutNamespacesAndExecs) {
  HostFacts f = RootFacts();
  f.landlock_abi = 7;
  auto plan = BuildPlan(Parse({"--tier", "reduced", "--uid-base", "100000", "--uid-count", "5", "--ro-bind",
                               "/opt/py", "--ro-bind", "/data/bundles/x/site", "--scratch-dir", "/tmp/pycage-scratch-1-a",
                               "--", "/usr/bin/python3"}),
                        f);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const std::string text = FormatPlan(plan.value());
  auto lines = Lines(text);
  // One process: every step in the helper, no clone, mount or init.
  for (const std::string& line : lines) EXPECT_EQ(line.rfind("helper ", 0), 0U) << line;
  EXPECT_EQ(text.find("clone"), std::string::npos);
  EXPECT_EQ(text.find("mount"), std::string::npos);
  EXPECT_LT(IndexOf(lines, "helper compile-seccomp run-contained"), lines.size());
  EXPECT_LT(IndexOf(lines, "helper child-subreaper"), lines.size());
  // The pool's own uid (the last of the range), then no capability, then
  // NO_NEW_PRIVS, Landlock and the filter, in that order.
  size_t identity = IndexOf(lines, "helper set-identity 100004");
  size_t drop = IndexOf(lines, "helper drop-capabilities");
  size_t nnp = IndexOf(lines, "helper no-new-privs");
  size_t landlock = static_cast<size_t>(
      std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("helper landlock-filesystem", 0) == 0; }) -
      lines.begin());
  size_t seccomp = IndexOf(lines, "helper apply-seccomp");
  EXPECT_LT(identity, drop);
  EXPECT_LT(drop, nnp);
  EXPECT_LT(nnp, landlock);
  EXPECT_LT(landlock, seccomp);
  EXPECT_EQ(lines.back(), "helper execve /usr/bin/python3");
  const std::string& rules = lines[landlock];
  EXPECT_NE(rules.find("read /usr:"), std::string::npos) << rules;
  EXPECT_NE(rules.find(":/opt/py:/data/bundles/x/site:" + f.confine_lib), std::string::npos) << rules;
  EXPECT_NE(rules.find(" write /dev/null:/tmp/pycage-scratch-1-a"), std::string::npos) << rules;
  // Each run's own steps follow, and the zygote learns what to re-grant.
  EXPECT_NE(text.find("run    apply-seccomp run-contained"), std::string::npos);
  const auto& env = plan->env;
  EXPECT_NE(std::find(env.begin(), env.end(), "PYCAGE_SCRATCH=/tmp/pycage-scratch-1-a"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "PYCAGE_TIER=reduced"), env.end());
}

TEST(BuildPlan, ReducedTierOnANonRootHostKeepsItsUidAndLocksNoSecurebits) {
  HostFacts f = RootFacts();
  f.root = false;
  f.uid = 1000;
  f.landlock_abi = 5;
  auto plan = BuildPlan(Parse({"--tier", "reduced", "--scratch-dir", "/tmp/s", "--", "/usr/bin/python3"}), f);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto lines = Lines(FormatPlan(plan.value()));
  EXPECT_EQ(IndexOf(lines, "helper lock-securebits"), lines.size());
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("helper set-identity", 0) == 0; }), 0);
  // Without Landlock's scopes (ABI < 6) runs may not make AF_UNIX sockets.
  EXPECT_LT(IndexOf(lines, "helper compile-seccomp run-contained-no-unix-socket"), lines.size());
}

TEST(BuildPlan, ReducedTierRefusesWhatItCannotKeep) {
  HostFacts f = RootFacts();
  f.landlock_abi = 7;
  auto no_scratch = BuildPlan(Parse({"--tier", "reduced", "--", "/bin/true"}), f);
  ASSERT_FALSE(no_scratch.ok());
  EXPECT_NE(no_scratch.status().message().find("Expected --scratch-dir with --tier reduced"), std::string::npos);
  auto moved = BuildPlan(Parse({"--tier", "reduced", "--scratch-dir", "/tmp/s", "--ro-bind", "/a:/pycage/a", "--", "/bin/true"}), f);
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.status().message().find("without :DST"), std::string::npos);
  f.landlock_abi = 0;
  auto no_landlock = BuildPlan(Parse({"--tier", "reduced", "--scratch-dir", "/tmp/s", "--", "/bin/true"}), f);
  ASSERT_FALSE(no_landlock.ok());
  EXPECT_NE(no_landlock.status().message().find("Expected Landlock"), std::string::npos);
}

TEST(BuildPlan, RunProfileIgnoresTheInstallerFacts) {
  HostFacts root = RootFacts();
  root.landlock_abi = InstallerFacts().landlock_abi;  // the run filter depends on it (abstract sockets)
  auto run = BuildPlan(Parse({"--", "/bin/true"}), InstallerFacts());
  auto plain = BuildPlan(Parse({"--", "/bin/true"}), root);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(FormatPlan(run.value()), FormatPlan(plain.value()));
  auto lines = Lines(FormatPlan(run.value()));
  EXPECT_LT(IndexOf(lines, "helper compile-seccomp run"), lines.size());
  EXPECT_LT(IndexOf(lines, "child  setup-fds"), lines.size());
  EXPECT_LT(IndexOf(lines, "child  drop-capabilities"), lines.size());
  EXPECT_NE(JailCloneFlags(Profile::kRun) & CLONE_NEWNET, 0u);
}

TEST(BuildPlan, InstallerEnvironmentIsExactlySetenv) {
  auto plan = BuildPlan(Parse({"--profile", "installer", "--setenv", "HOME=/tmp", "--setenv", "PYCAGE_TIER=x",
                               "--setenv", "HOME=/build", "--", "/bin/true"}),
                        InstallerFacts());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->env, (std::vector<std::string>{"PYCAGE_TIER=x", "HOME=/build"}));
}

TEST(BuildPlan, InstallerBypassKeepsStdioAndSetsLimitsInTheHelper) {
  auto plan = BuildPlan(Parse({"--profile", "installer", "--tier", "bypass", "--rlimit-cpu", "30", "--",
                               "/bin/true"}),
                        InstallerFacts());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(FormatPlan(plan.value()),
            "helper set-parent-death-signal 9\n"
            "helper setup-fds keep-stdio\n"
            "helper setsid\n"
            "helper rlimit-core-0\n"
            "helper setrlimit RLIMIT_CPU 30\n"
            "helper no-new-privs\n"
            "helper execve /bin/true\n");
}

TEST(BuildPlan, RefusesOptionsThatDoNotFitTheProfileOrTier) {
  auto control = BuildPlan(Parse({"--profile", "installer", "--control-fd", "3", "--", "/bin/true"}), RootFacts());
  ASSERT_FALSE(control.ok());
  EXPECT_EQ(control.status().message(),
            "Expected no --control-fd with --profile installer (it keeps fds 0, 1 and 2 and closes the rest) but "
            "received --control-fd 3");
  auto bypass = BuildPlan(Parse({"--tier", "bypass", "--cgroup-root", "/cg", "--cgroup-pids-max", "8",
                                 "--cgroup-memory-max", "1048576", "--", "/bin/true"}),
                          RootFacts());
  ASSERT_FALSE(bypass.ok());
  EXPECT_EQ(bypass.status().message(),
            "Expected --tier full with --cgroup-root (the bypass tier has no child to move) but received --tier "
            "bypass");
}

TEST(BuildPlan, CgroupIsCheckedBeforeCloneJoinedBeforeReleaseRemovedAfterWait) {
  for (const char* profile : {"run", "installer"}) {
    auto plan = BuildPlan(Parse({"--profile", profile, "--cgroup-root", "/sys/fs/cgroup/pycage", "--cgroup-pids-max",
                                 "64", "--cgroup-memory-max", "268435456", "--", "/bin/true"}),
                          InstallerFacts());
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    auto lines = Lines(FormatPlan(plan.value()));
    size_t check = IndexOf(lines, "helper check-cgroup /sys/fs/cgroup/pycage");
    size_t clone = static_cast<size_t>(
        std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("helper clone ", 0) == 0; }) -
        lines.begin());
    size_t gid = IndexOf(lines, "parent write-gid-map 0 0 1");
    size_t create = IndexOf(lines, "parent create-cgroup /sys/fs/cgroup/pycage pids.max=64 memory.max=268435456");
    size_t attach = IndexOf(lines, "parent attach-cgroup");
    size_t release = IndexOf(lines, "parent release-child");
    size_t wait = IndexOf(lines, "parent wait-child");
    size_t remove = IndexOf(lines, "parent remove-cgroup");
    EXPECT_LT(check, clone) << profile;
    EXPECT_LT(clone, gid) << profile;
    EXPECT_LT(gid, create) << profile;
    EXPECT_LT(create, attach) << profile;
    EXPECT_LT(attach, release) << profile;
    EXPECT_LT(release, wait) << profile;
    EXPECT_EQ(remove, wait + 1) << profile;
  }
  auto none = BuildPlan(Parse({"--", "/bin/true"}), RootFacts());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(FormatPlan(none.value()).find("cgroup"), std::string::npos);
}

}  // namespace
}  // namespace pycage::jail

namespace pycage::jail {
namespace {

TEST(BuildPlan, FullTierStartsAnInitAndAnUnprivilegedZygote) {
  auto plan = BuildPlan(Parse({"--uid-base", "100000", "--uid-count", "6", "--", "/usr/bin/python3"}), RootFacts());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const std::string text = FormatPlan(plan.value());
  auto lines = Lines(text);
  size_t init = IndexOf(lines, "child  start-init run-slots 1..4 zygote-uid 5");
  size_t lock = IndexOf(lines, "child  lock-securebits");
  size_t identity = IndexOf(lines, "child  set-identity 5");
  size_t drop = IndexOf(lines, "child  drop-capabilities");
  ASSERT_LT(init, lines.size()) << text;
  // Securebits, then the uid switch (capabilities survive it), then every set emptied.
  EXPECT_LT(init, lock);
  EXPECT_LT(lock, identity);
  EXPECT_LT(identity, drop);
  EXPECT_LT(drop, IndexOf(lines, "child  no-new-privs"));
  EXPECT_LT(IndexOf(lines, "child  ro-bind /opt/pycage/build/Release/pycage-confine.so /newroot/pycage/confine.so"),
            lines.size());
  // Each run's plan follows: its user namespace first, the run filter last.
  auto run = RunLines(text);
  ASSERT_FALSE(run.empty()) << text;
  EXPECT_EQ(run.front(), "fork   clone-user-mount-pid-ns spares: by the fork server, with CLONE_PARENT");
  EXPECT_EQ(run.back(), "run    apply-seccomp run");
  EXPECT_LT(IndexOf(run, "run    request-id-map uid_map/gid_map \"1 1 1\""), IndexOf(run, "run    mount-proc /proc"));
  EXPECT_LT(IndexOf(run, "run    lock-securebits"), IndexOf(run, "run    set-identity 1"));
  EXPECT_LT(IndexOf(run, "run    set-identity 1"), IndexOf(run, "run    drop-capabilities all"));
}

TEST(BuildPlan, SingleUidKeepsEveryoneOnUidZeroWithoutASwitch) {
  HostFacts f = RootFacts();
  auto plan = BuildPlan(Parse({"--", "/usr/bin/python3"}), f);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto lines = Lines(FormatPlan(plan.value()));
  EXPECT_LT(IndexOf(lines, "child  start-init run-slots 0..0 zygote-uid 0"), lines.size());
  for (const auto& line : lines) EXPECT_EQ(line.rfind("child  set-identity", 0), std::string::npos) << line;
}

TEST(BuildPlan, FullTierNeedsTheConfineLibraryAndThreeUids) {
  HostFacts f = RootFacts();
  f.confine_lib.clear();
  auto missing = BuildPlan(Parse({"--", "/usr/bin/python3"}), f);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("pycage-confine.so"), std::string::npos) << missing.status().message();
  auto two = BuildPlan(Parse({"--uid-base", "100000", "--uid-count", "2", "--", "/usr/bin/python3"}), RootFacts());
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("--uid-count 1 or at least 3"), std::string::npos) << two.status().message();
  // The installer runs no zygote: no init, no library needed.
  auto installer = BuildPlan(Parse({"--profile", "installer", "--", "/usr/bin/pip"}), f);
  EXPECT_TRUE(installer.ok()) << installer.status().message();
}

TEST(UidLayout, RunsBetweenTheInitAndTheZygote) {
  JailOptions o;
  o.uid_base = 100000;
  o.uid_count = 6;
  UidLayout u = UidLayoutOf(o);
  EXPECT_EQ(u.first_slot, 1u);
  EXPECT_EQ(u.last_slot, 4u);
  EXPECT_EQ(u.zygote_uid, 5u);
  o.uid_base.reset();
  o.uid_count = 1;
  u = UidLayoutOf(o);
  EXPECT_EQ(u.first_slot + u.last_slot + u.zygote_uid, 0u);
}

TEST(JailInit, MapsOnlyTheZygotesChildrenToRunSlots) {
  jail_init::SlotRange range{1, 4, 5};
  const pid_t zygote = 2;
  EXPECT_TRUE(jail_init::MayMap(range, zygote, zygote, 5, 1));
  EXPECT_TRUE(jail_init::MayMap(range, zygote, zygote, 5, 4));
  EXPECT_FALSE(jail_init::MayMap(range, zygote, zygote, 5, 0));   // the init's uid
  EXPECT_FALSE(jail_init::MayMap(range, zygote, zygote, 5, 5));   // the zygote's
  EXPECT_FALSE(jail_init::MayMap(range, zygote, 77, 5, 1));       // a grandchild: a run's own process
  EXPECT_FALSE(jail_init::MayMap(range, zygote, zygote, 1, 1));   // asked by a run's uid
  EXPECT_EQ(jail_init::IdMapLine(3), "3 3 1");
}

}  // namespace
}  // namespace pycage::jail
