#include "jail/probe.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "common/host_identity.h"
#include "jail/cgroup2.h"
#include "jail/jail_plan.h"
#include "jail/landlock.h"

namespace pycage::jail::probe {
namespace {

// clone(flags) with a child that exits at once: the kernel, sysctls, LSMs
// and container seccomp profiles all get their say, as in a real jail.
bool CanClone(uint64_t flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) return false;
  if (pid == 0) _exit(0);
  int status = 0;
  while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool SeccompAvailable() {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) return false;
  uint32_t action = SECCOMP_RET_KILL_PROCESS;
  return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

std::string ReadFirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// A cgroup v2 subtree we may manage: unified hierarchy mounted at
// /sys/fs/cgroup, and our own cgroup's files writable.
bool Cgroup2Delegated() {
  struct statfs sf {};
  if (statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) return false;
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string dir = "/sys/fs/cgroup" + line.substr(3);
    return access((dir + "/cgroup.subtree_control").c_str(), W_OK) == 0 &&
           access((dir + "/cgroup.procs").c_str(), W_OK) == 0;
  }
  return false;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

}  // namespace

HostCapabilities Probe(const std::string& cgroup_root) {
  HostCapabilities c;
  c.root = geteuid() == 0;
  c.switch_uid = MaySwitchToPoolUids();
  c.userns = CanClone(CLONE_NEWUSER);
  c.mountns = CanClone(CLONE_NEWUSER | CLONE_NEWNS);
  c.pidns = CanClone(CLONE_NEWUSER | CLONE_NEWPID);
  c.netns = CanClone(CLONE_NEWUSER | CLONE_NEWNET);
  c.all_namespaces = CanClone(JailCloneFlags());
  c.seccomp = SeccompAvailable();
  c.landlock_abi = landlock::AbiVersion();
  c.cgroup2_delegated = Cgroup2Delegated();
  cgroup2::Availability cg = cgroup2::Check(cgroup_root);
  c.cgroup2_available = cg.available;
  c.cgroup2_reason = cg.reason;

  if (!c.userns) c.missing.emplace_back("userns");
  if (!c.mountns) c.missing.emplace_back("mountns");
  if (!c.pidns) c.missing.emplace_back("pidns");
  if (!c.netns) c.missing.emplace_back("netns");
  if (c.userns && !c.all_namespaces) c.missing.emplace_back("namespaces");
  if (!c.seccomp) c.missing.emplace_back("seccomp");
  if (!c.cgroup2_delegated) c.missing.emplace_back("cgroup2");

  if (!c.userns) {
    if (ReadFirstLine("/proc/sys/kernel/unprivileged_userns_clone") == "0") {
      c.fix.emplace_back("sysctl -w kernel.unprivileged_userns_clone=1");
    }
    if (ReadFirstLine("/proc/sys/user/max_user_namespaces") == "0") {
      c.fix.emplace_back("sysctl -w user.max_user_namespaces=15000");
    }
    if (ReadFirstLine("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1") {
      c.fix.emplace_back("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for node allowing userns)");
    }
    if (access("/.dockerenv", F_OK) == 0) {
      c.fix.emplace_back("run the container with a seccomp profile that allows clone/unshare with CLONE_NEWUSER (Docker's default forbids it)");
    }
  }
  if (!c.cgroup2_delegated) {
    c.fix.emplace_back("delegate a cgroup v2 subtree to this user (systemd: Delegate=yes) to get memory and pids limits per run");
  }
  return c;
}

std::string ToJson(const HostCapabilities& c) {
  auto b = [](bool v) { return v ? "true" : "false"; };
  auto list = [](const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\"" : "\"") + Escape(items[i]) + "\"";
    return out + "]";
  };
  std::string out = "{";
  out += std::string("\"userns\":") + b(c.userns);
  out += std::string(",\"mountns\":") + b(c.mountns);
  out += std::string(",\"pidns\":") + b(c.pidns);
  out += std::string(",\"netns\":") + b(c.netns);
  out += std::string(",\"allNamespaces\":") + b(c.all_namespaces);
  out += std::string(",\"seccomp\":") + b(c.seccomp);
  out += ",\"landlockAbi\":" + std::to_string(c.landlock_abi);
  out += std::string(",\"cgroup2Delegated\":") + b(c.cgroup2_delegated);
  out += std::string(",\"cgroup2\":{\"available\":") + b(c.cgroup2_available) + ",\"reason\":\"" +
         Escape(c.cgroup2_reason) + "\"}";
  out += std::string(",\"root\":") + b(c.root);
  out += std::string(",\"switchUid\":") + b(c.switch_uid);
  out += ",\"missing\":" + list(c.missing);
  out += ",\"fix\":" + list(c.fix);
  return out + "}";
}

}  // namespace pycage::jail::probe
