// End-to-end: the real pycage-jail binary, real namespaces. Programs inside
// write to fd 2, because the jail's fd 1 is /dev/null by contract.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "common/host_identity.h"
#include "subprocess.h"

namespace pycage::jail {
namespace {

using testing::Outcome;

const std::vector<std::string> kRootMap = {"--uid-base", "100000", "--uid-count", "4"};

Outcome Jail(std::vector<std::string> opts, const std::vector<std::string>& program) {
  std::vector<std::string> argv{PYCAGE_JAIL};
  if (geteuid() == 0 && std::find(opts.begin(), opts.end(), "--tier") == opts.end()) {
    argv.insert(argv.end(), kRootMap.begin(), kRootMap.end());
  }
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.emplace_back("--");
  argv.insert(argv.end(), program.begin(), program.end());
  return testing::Run(argv, {"HOST_SECRET=1"}, 120000);
}

Outcome Sh(const std::string& script, std::vector<std::string> opts = {}) {
  return Jail(std::move(opts), {"/bin/sh", "-c", "exec 1>&2; " + script});
}

TEST(Jail, TheProgramRunsAsTheLastUidOfTheHostRange) {
  // Uid 0 of the jail is its init's; the program (the zygote) gets the last.
  Outcome o = Sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; hostname");
  ASSERT_EQ(o.code(), 0) << o.err;
  std::regex expected(geteuid() == 0
                          ? "3\n3\n +0 +100000 +4\n +0 +100000 +4\npycage\n"
                          : "0\n0\n +0 +[0-9]+ +1\n +0 +[0-9]+ +1\npycage\n");
  EXPECT_TRUE(std::regex_match(o.err, expected)) << o.err;
}

TEST(Jail, HasNoNetwork) {
  Outcome o = Sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; test -e /sys/class/net && echo sys");
  EXPECT_EQ(o.err, "lo\n");
  o = Jail({}, {"/usr/bin/python3", "-I", "-S", "-c",
                "import socket, sys\n"
                "try:\n  socket.create_connection(('127.0.0.1', 22), timeout=2); print('connected', file=sys.stderr)\n"
                "except OSError as e:\n  print('refused', e.errno, file=sys.stderr)\n"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.err.rfind("refused ", 0), 0u) << o.err;
}

TEST(Jail, HostFilesAreAbsent) {
  Outcome o = Sh("for p in /root /home /etc/passwd /etc/shadow /var /work /sys /oldroot /newroot; do "
                 "test -e $p && echo present $p; done; ls /etc");
  EXPECT_EQ(o.code(), 0) << o.err;
  std::string expected = "alternatives\nld.so.cache\nlocaltime\n";
  if (access("/etc/matplotlibrc", F_OK) == 0) expected += "matplotlibrc\n";
  EXPECT_EQ(o.err, expected);
}

TEST(Jail, RootIsReadOnlyAndTmpIsWritableAndCapped) {
  Outcome o = Sh("touch /x 2>/dev/null || echo ro-root; touch /usr/x 2>/dev/null || echo ro-usr; "
                 "mkdir /etc/x 2>/dev/null || echo ro-etc; echo hi > /tmp/f && cat /tmp/f; "
                 "dd if=/dev/zero of=/tmp/big bs=65536 count=64 2>/dev/null || echo capped; "
                 "echo x > /dev/null && echo devnull; head -c 4 /dev/urandom | wc -c",
                 {"--tmpfs-bytes", "1048576"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.err, "ro-root\nro-usr\nro-etc\nhi\ncapped\ndevnull\n4\n");
}

TEST(Jail, EnvironmentIsExactlySetenvPlusTier) {
  // /proc/self/environ is the block execve got (os.environ may gain
  // LC_CTYPE from Python's locale coercion).
  const char* code = "import sys; sys.stderr.write(repr(open('/proc/self/environ','rb').read().split(b'\\0')[:-1]))";
  Outcome o = Jail({"--setenv", "A=1", "--setenv", "LANG=C.UTF-8"}, {"/usr/bin/python3", "-I", "-S", "-c", code});
  EXPECT_EQ(o.err, "[b'A=1', b'LANG=C.UTF-8', b'PYCAGE_TIER=full']");
  o = Jail({"--tier", "bypass", "--setenv", "A=1"}, {"/usr/bin/python3", "-I", "-S", "-c", code});
  EXPECT_EQ(o.err, "[b'A=1', b'PYCAGE_TIER=bypass']");
}

TEST(Jail, FdsAreStdioPlusTheSealedRunFilter) {
  const char* code =
      "import os, sys, fcntl\n"
      "fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
      "seals = fcntl.fcntl(4, 1034)\n"  // F_GET_SEALS
      "sys.stderr.write('%s %s %s %d' % (fds[:5], os.readlink('/proc/self/fd/4').startswith('/memfd:pycage-run-filter'),"
      " os.fstat(4).st_size % 8 == 0, seals))";
  Outcome o = Jail({}, {"/usr/bin/python3", "-I", "-S", "-c", code});
  // F_SEAL_SEAL|SHRINK|GROW|WRITE = 15; fd 3 is /dev/null without a control socket.
  EXPECT_EQ(o.err, "[0, 1, 2, 3, 4] True True 15");
}

TEST(Jail, PyenvPythonWorks) {
  const std::string prefix = "/root/.pyenv/versions/3.11.7";
  if (access((prefix + "/bin/python3").c_str(), X_OK) != 0) GTEST_SKIP() << "no pyenv 3.11.7";
  Outcome o = Jail({"--ro-bind", prefix}, {prefix + "/bin/python3", "-I", "-S", "-c",
                                           "import json, ctypes, sys; print(1, file=sys.stderr)"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.err, "1\n");
}

TEST(Jail, DebianPythonImportsNumpy) {
  Outcome o = Jail({}, {"/usr/bin/python3", "-I", "-S", "-c",
                        "import sys; sys.path.append('/usr/lib/python3/dist-packages'); import numpy; "
                        "print(numpy.ones(3).sum(), file=sys.stderr)"});
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_EQ(o.err, "3.0\n");
}

TEST(Jail, ZygoteFilterAllowsThePerRunSequence) {
  for (const char* slot : {"1", "0"}) {
    if (geteuid() != 0 && std::string(slot) == "1") continue;  // one mapped uid only
    // Slot 0: a single-uid map ("--tier full" keeps Jail() from adding the range).
    std::vector<std::string> opts{"--ro-bind", std::string(PYCAGE_JAIL_TEST_DIR) + ":/t"};
    if (std::string(slot) == "0") opts.insert(opts.begin(), {"--tier", "full"});
    Outcome o = Jail(opts, {"/usr/bin/python3", "-I", "-S", "/t/zygote_sequence.py", slot});
    EXPECT_EQ(o.code(), 0) << o.err;
    // The zygote: no capability, no_new_privs, and with a uid range a uid
    // of its own (the last one); each run: pid 1 alone, its slot's uid,
    // nothing left in any capability set, the run filter on.
    const std::string zygote_uid = std::string(slot) == "1" ? "3" : "0";
    EXPECT_EQ(o.err, "zygote uid " + zygote_uid + " caps 0000000000000000 nnp 1\npids 1\nuid " + slot +
                         " caps 0000000000000000 bnd 0000000000000000\n"
                         "inet Address family not supported by protocol\nunshare Operation not permitted\n"
                         "tmp ok\nchild status 7\nvia SCM_RIGHTS\n");
  }
}

TEST(Jail, WorksUnprivilegedWithASingleUidMap) {
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs root and setpriv";
  Outcome o = testing::Run({"/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                            PYCAGE_JAIL, "--ro-bind", std::string(PYCAGE_JAIL_TEST_DIR) + ":/t", "--",
                            "/usr/bin/python3", "-I", "-S", "/t/zygote_sequence.py", "0"},
                           {}, 120000);
  EXPECT_EQ(o.code(), 0) << o.err;
  EXPECT_NE(o.err.find("\nuid 0 caps 0000000000000000 bnd 0000000000000000\n"), std::string::npos) << o.err;
  o = testing::Run({"/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", PYCAGE_JAIL,
                    "--", "/bin/sh", "-c", "cat /proc/self/uid_map /proc/self/setgroups >&2"});
  EXPECT_TRUE(std::regex_match(o.err, std::regex(" +0 +65534 +1\ndeny\n"))) << o.err;
}

TEST(Jail, ExitStatusIsTheChildStatus) {
  EXPECT_EQ(Sh("exit 7").code(), 7);
  EXPECT_EQ(Jail({"--tier", "bypass"}, {"/bin/sh", "-c", "exit 9"}).code(), 9);
}

TEST(Jail, SetupFailuresExit125WithOneLine) {
  Outcome o = Sh("true", {"--ro-bind", "/nonexistent/pycage"});
  EXPECT_EQ(o.code(), 125);
  EXPECT_EQ(o.err,
            "pycage-jail: mount_ns: open(/nonexistent/pycage, O_PATH|O_NOFOLLOW): No such file or "
            "directory (errno 2)\n");
  o = Jail({}, {"/nonexistent"});
  EXPECT_EQ(o.code(), 125);
  EXPECT_EQ(o.err, "pycage-jail: exec: execve(/nonexistent): No such file or directory (errno 2)\n");
  o = Jail({"--parent-pid", "1"}, {"/bin/true"});
  EXPECT_EQ(o.code(), 125);
  EXPECT_TRUE(std::regex_match(o.err, std::regex("pycage-jail: pdeathsig: getppid\\(\\) = [0-9]+, expected 1: "
                                                 "No such process \\(errno 3\\)\n")))
      << o.err;
  o = testing::Run({PYCAGE_JAIL, "--tier", "none", "--", "/bin/true"});
  EXPECT_EQ(o.code(), 125);
  EXPECT_EQ(o.err, "pycage-jail: args: Expected full, reduced or bypass for --tier but received 'none'\n");
}

// Host pids whose parent is `ppid`.
std::vector<pid_t> ChildrenOf(pid_t ppid) {
  std::ifstream in("/proc/" + std::to_string(ppid) + "/task/" + std::to_string(ppid) + "/children");
  std::vector<pid_t> out;
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && line.size() > close_paren + 2 && line[close_paren + 2] != 'Z';
}

TEST(Jail, JailDiesWithTheHelper) {
  pid_t helper = fork();
  if (helper == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(PYCAGE_JAIL, PYCAGE_JAIL, "--", "/bin/sh", "-c", "sleep 100 & wait", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::vector<pid_t> kids;
  for (int i = 0; i < 100 && kids.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kids = ChildrenOf(helper);
  }
  ASSERT_EQ(kids.size(), 1u);
  pid_t pid1 = kids[0];
  std::vector<pid_t> grandkids;
  for (int i = 0; i < 100 && grandkids.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    grandkids = ChildrenOf(pid1);
  }
  ASSERT_EQ(grandkids.size(), 1u);  // sleep
  kill(helper, SIGKILL);
  int status;
  waitpid(helper, &status, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !Alive(pid1) && !Alive(grandkids[0]);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

TEST(Helper, ProbePrintsOneJsonObject) {
  Outcome o = testing::Run({PYCAGE_JAIL, "--probe"});
  EXPECT_EQ(o.code(), 0);
  EXPECT_TRUE(std::regex_match(
      o.out, std::regex("\\{\"userns\":(true|false),\"mountns\":(true|false),\"pidns\":(true|false),"
                        "\"netns\":(true|false),\"allNamespaces\":(true|false),\"seccomp\":(true|false),"
                        "\"landlockAbi\":[0-9]+,\"cgroup2Delegated\":(true|false),"
                        "\"cgroup2\":\\{\"available\":(true|false),\"reason\":\"[^\"]*\"\\},\"root\":(true|false),"
                        "\"switchUid\":(true|false),"
                        "\"missing\":\\[.*\\],\"fix\":\\[.*\\]\\}\n")))
      << o.out;
  EXPECT_NE(o.out.find("\"userns\":true,\"mountns\":true,\"pidns\":true,\"netns\":true,\"allNamespaces\":true,"
                       "\"seccomp\":true"),
            std::string::npos)
      << o.out;
  // Root with CAP_SETUID in the initial namespace (CI) may take the pools' uids.
  EXPECT_NE(o.out.find(std::string("\"switchUid\":") + (MaySwitchToPoolUids() ? "true" : "false")), std::string::npos)
      << o.out;
}

TEST(Helper, PrintPlanListsStepsWithoutRunningThem) {
  Outcome o = testing::Run({PYCAGE_JAIL, "--print-plan", "--tmpfs-bytes", "8192", "--", "/bin/true"});
  EXPECT_EQ(o.code(), 0);
  EXPECT_NE(o.out.find("child  mount-tmp /newroot/tmp size=8192\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("child  ro-bind /usr /newroot/usr\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("child  apply-seccomp\nchild  execve /bin/true\n"), std::string::npos) << o.out;
  // The full tier prints each run's plan after the jail's.
  EXPECT_NE(o.out.find("child  start-init run-slots 0..0 zygote-uid 0\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("fork   clone-user-mount-pid-ns spares: by the fork server, with CLONE_PARENT\n"
                       "run    request-id-map"),
            std::string::npos)
      << o.out;
  const std::string tail =
      "run    no-new-privs\nrun    landlock-scope-abstract-unix (Landlock ABI >= 6; else the filter refuses "
      "AF_UNIX)\nrun    apply-seccomp run\n";
  EXPECT_EQ(o.out.substr(o.out.size() - tail.size()), tail);
}

}  // namespace
}  // namespace pycage::jail
