#include "jail/jail_exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/capability.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "jail/capabilities.h"
#include "jail/cgroup2.h"
#include "jail/jail_init.h"
#include "jail/landlock.h"
#include "jail/mount_ns.h"
#include "jail/rlimits.h"
#include "jail/seccomp_apply.h"
#include "jail/seccomp_policy.h"
#include "jail/sys_error.h"
#include "jail/user_ns.h"

namespace pycage::jail {
namespace {

// fd numbers the zygote relies on (PROTOCOL.md).
constexpr int kControlFd = 3;
constexpr int kRunFilterFd = 4;
constexpr int kInitFd = 5;
// Scratch fds are moved at least this high so the final dup2s cannot clash.
constexpr int kScratchFdMin = 16;

void Report(const Status& s) {
  std::string line = "pycage-jail: " + s.message() + "\n";
  // One write() so lines from concurrent helpers do not interleave.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// State shared by the steps of one run.
struct Runtime {
  const JailPlan* plan = nullptr;
  Where role = Where::kHelper;
  pid_t child = -1;
  int sync_fd = -1;            // our end of the parent/child socketpair
  int run_filter_fd = -1;      // sealed memfd, becomes fd 4 in the jail
  Bpf filter_bpf;              // what kApplySeccomp installs (the zygote or installer filter)
  std::vector<int> bind_fds;   // parallel to the kBindReadOnly/kBindReadWrite steps
  size_t next_bind = 0;
  int exit_code = 0;           // parent: what the helper exits with
  std::string cgroup_dir;      // parent: the child's cgroup, once created
};

bool IsBind(StepKind kind) { return kind == StepKind::kBindReadOnly || kind == StepKind::kBindReadWrite; }

cgroup2::CgroupFs CgroupFsOf(const JailOptions& o) { return cgroup2::CgroupFs{o.cgroup_root}; }

Result<FilterKind> FilterByName(const std::string& name) {
  for (FilterKind k : {FilterKind::kInstaller, FilterKind::kInstallerNoUnixSocket, FilterKind::kRun,
                       FilterKind::kRunNoUnixSocket, FilterKind::kRunContained, FilterKind::kRunContainedNoUnixSocket}) {
    if (name == FilterName(k)) return k;
  }
  return PlainError("seccomp", "unknown filter " + name);
}

// "CLONE_NEWUSER|CLONE_NEWNS|…" for an error line an operator can read.
std::string CloneFlagNames(uint64_t flags) {
  static constexpr struct {
    uint64_t bit;
    const char* name;
  } kNames[] = {{CLONE_NEWUSER, "CLONE_NEWUSER"}, {CLONE_NEWNS, "CLONE_NEWNS"},     {CLONE_NEWPID, "CLONE_NEWPID"},
                {CLONE_NEWNET, "CLONE_NEWNET"},   {CLONE_NEWIPC, "CLONE_NEWIPC"},   {CLONE_NEWUTS, "CLONE_NEWUTS"},
                {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) == 0) continue;
    out += out.empty() ? name : std::string("|") + name;
    flags &= ~bit;
  }
  if (flags != 0) out += (out.empty() ? "" : "|") + std::to_string(flags);
  return out.empty() ? "0" : out;
}

Status CloneChild(Runtime& rt, uint64_t flags) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    return SysError("clone", "socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC)");
  }
  // Raw clone with fork semantics: the helper is single-threaded, so the
  // child may keep running ordinary code (malloc included) until execve.
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) {
    Status s = SysError("clone", "clone(" + CloneFlagNames(flags) + "|SIGCHLD)");
    close(sv[0]);
    close(sv[1]);
    return s;
  }
  if (pid == 0) {
    close(sv[0]);
    rt.sync_fd = sv[1];
    rt.role = Where::kChild;
  } else {
    close(sv[1]);
    rt.sync_fd = sv[0];
    rt.child = static_cast<pid_t>(pid);
    rt.role = Where::kParent;
  }
  return Status::Ok();
}

Status WaitChild(Runtime& rt) {
  int status = 0;
  // By pid, never -1: the helper has exactly one child and must not reap
  // anything else a caller might have left it.
  while (waitpid(rt.child, &status, __WALL) < 0) {
    if (errno != EINTR) return SysError("wait", "waitpid(" + std::to_string(rt.child) + ")");
  }
  rt.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return Status::Ok();
}

Status SetupFds(const Runtime& rt) {
  const JailOptions& o = rt.plan->options;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return SysError("fds", "open(/dev/null, O_RDWR)");
  int control = -1;
  if (fcntl(o.control_fd, F_GETFD) >= 0) {
    control = fcntl(o.control_fd, F_DUPFD_CLOEXEC, kScratchFdMin);
    if (control < 0) return SysError("fds", "fcntl(" + std::to_string(o.control_fd) + ", F_DUPFD_CLOEXEC)");
  } else if (o.control_fd_explicit) {
    return SysError("fds", "fcntl(--control-fd " + std::to_string(o.control_fd) + ", F_GETFD)");
  }
  int filter = -1;
  if (rt.run_filter_fd >= 0) {
    filter = fcntl(rt.run_filter_fd, F_DUPFD_CLOEXEC, kScratchFdMin);
    if (filter < 0) return SysError("fds", "fcntl(run filter memfd, F_DUPFD_CLOEXEC)");
  }
  if (dup2(devnull, STDIN_FILENO) < 0) return SysError("fds", "dup2(/dev/null, 0)");
  if (dup2(devnull, STDOUT_FILENO) < 0) return SysError("fds", "dup2(/dev/null, 1)");
  // fd 2 stays the helper's stderr; make sure it survives execve.
  if (fcntl(STDERR_FILENO, F_SETFD, 0) < 0 && errno != EBADF) return SysError("fds", "fcntl(2, F_SETFD, 0)");
  int first_closed = kControlFd;
  if (control >= 0) {
    if (dup2(control, kControlFd) < 0) return SysError("fds", "dup2(control, 3)");
    first_closed = kControlFd + 1;
  }
  if (filter >= 0) {
    if (control < 0) {
      // Keep the numbering fixed: fd 3 is /dev/null when there is no control socket.
      if (dup2(devnull, kControlFd) < 0) return SysError("fds", "dup2(/dev/null, 3)");
    }
    if (dup2(filter, kRunFilterFd) < 0) return SysError("fds", "dup2(run filter, 4)");
    first_closed = kRunFilterFd + 1;
  }
  // Everything else goes, including fds a careless caller leaked to us.
  if (syscall(SYS_close_range, first_closed, ~0U, 0) < 0) {
    if (errno != ENOSYS) return SysError("fds", "close_range(" + std::to_string(first_closed) + ", ~0U)");
    for (int fd = first_closed; fd < 65536; ++fd) close(fd);
  }
  return Status::Ok();
}

// The installer profile: the caller's 0, 1, 2 go through (made to survive
// execve), everything else is closed.
Status KeepStdio() {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_SETFD, 0) < 0 && errno != EBADF) {
      return SysError("fds", "fcntl(" + std::to_string(fd) + ", F_SETFD, 0)");
    }
  }
  if (syscall(SYS_close_range, STDERR_FILENO + 1, ~0U, 0) < 0) {
    if (errno != ENOSYS) return SysError("fds", "close_range(3, ~0U)");
    for (int fd = STDERR_FILENO + 1; fd < 65536; ++fd) close(fd);
  }
  return Status::Ok();
}

// The full tier's pid 1 (jail_init.h): fork; the parent becomes the init and
// never returns, the child goes on to become the zygote with the init's
// socket on fd 5.
Status StartInit(Runtime& rt, const Step& s) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    return SysError("init", "socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  int one = 1;
  // The kernel, not the sender, says who asks for a map.
  if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
    return SysError("init", "setsockopt(SO_PASSCRED)");
  }
  pid_t zygote = fork();
  if (zygote < 0) return SysError("init", "fork()");
  if (zygote == 0) {
    close(sv[0]);
    if (dup2(sv[1], kInitFd) < 0) return SysError("init", "dup2(init socket, 5)");
    close(sv[1]);
    return Status::Ok();
  }
  close(sv[1]);
  // Hold nothing of the zygote's (its control socket above all: the
  // supervisor must see EOF when the zygote dies).
  int sock = fcntl(sv[0], F_DUPFD_CLOEXEC, kScratchFdMin);
  if (sock < 0) sock = sv[0];
  syscall(SYS_close_range, STDERR_FILENO + 1, sock - 1, 0);
  syscall(SYS_close_range, sock + 1, ~0U, 0);
  // Writing another process's id maps needs CAP_SETUID and CAP_SETGID here,
  // CAP_SYS_ADMIN over its new user namespace (for "setgroups") and
  // CAP_SETFCAP to map uid 0 (the single-uid layout), CAP_DAC_OVERRIDE to
  // open its /proc files; CAP_KILL ends the jail.
  Status st = capabilities::LimitTo((1ULL << CAP_SETUID) | (1ULL << CAP_SETGID) | (1ULL << CAP_SYS_ADMIN) |
                                    (1ULL << CAP_SETFCAP) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_KILL));
  if (!st.ok()) Report(st);
  const UidLayout uids = UidLayoutOf(rt.plan->options);
  jail_init::SlotRange range{uids.first_slot, uids.last_slot, static_cast<uid_t>(s.n)};
  jail_init::Serve(sock, zygote, range);
}

// The reduced tier's zygote: Landlock rules from ':'-separated path lists.
// A path that vanished since the plan was made is skipped; it grants nothing.
Status RestrictToPaths(const std::string& read, const std::string& write) {
  landlock::FsRules rules;
  std::vector<int> opened;
  auto open_all = [&](const std::string& list, std::vector<int>& into) -> Status {
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find(':', start);
      if (end == std::string::npos) end = list.size();
      std::string path = list.substr(start, end - start);
      start = end + 1;
      if (path.empty()) continue;
      if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) continue;
      auto fd = landlock::OpenPath(path);
      if (!fd.ok()) return fd.status();
      opened.push_back(fd.value());
      into.push_back(fd.value());
    }
    return Status::Ok();
  };
  Status st = open_all(read, rules.read);
  if (st.ok()) st = open_all(write, rules.write);
  if (st.ok()) st = landlock::RestrictFilesystem(rules);
  for (int fd : opened) close(fd);
  return st;
}

Status RunStep(Runtime& rt, const Step& s) {
  const JailOptions& o = rt.plan->options;
  switch (s.kind) {
    case StepKind::kSetParentDeathSignal:
      if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(s.n), 0, 0, 0) < 0) {
        return SysError("pdeathsig", "prctl(PR_SET_PDEATHSIG, " + std::to_string(s.n) + ")");
      }
      return Status::Ok();
    case StepKind::kCheckParent:
      // After PR_SET_PDEATHSIG: if the parent died before it was armed, we
      // were reparented and getppid() tells.
      if (getppid() != static_cast<pid_t>(s.n)) {
        errno = ESRCH;
        return SysError("pdeathsig", "getppid() = " + std::to_string(getppid()) + ", expected " +
                                         std::to_string(s.n));
      }
      return Status::Ok();
    case StepKind::kCheckCgroup:
      return cgroup2::Validate(CgroupFsOf(o));
    case StepKind::kCompileSeccomp: {
      if (!s.a.empty()) {
        auto kind = FilterByName(s.a);
        if (!kind.ok()) return kind.status();
        auto bpf = BuildFilter(kind.value());
        if (!bpf.ok()) return bpf.status();
        rt.filter_bpf = std::move(bpf).value();
        return Status::Ok();
      }
      auto zygote = BuildFilter(FilterKind::kZygote);
      if (!zygote.ok()) return zygote.status();
      rt.filter_bpf = std::move(zygote).value();
      auto run_kind = FilterByName(s.b.empty() ? FilterName(FilterKind::kRun) : s.b);
      if (!run_kind.ok()) return run_kind.status();
      auto run = BuildRunDelta(run_kind.value());
      if (!run.ok()) return run.status();
      auto fd = SealedMemfd("pycage-run-filter", run.value());
      if (!fd.ok()) return fd.status();
      rt.run_filter_fd = fd.value();
      return Status::Ok();
    }
    case StepKind::kCloneNamespaces:
      return CloneChild(rt, s.n);
    case StepKind::kDenySetgroups:
      return user_ns::DenySetgroups(rt.child);
    case StepKind::kWriteUidMap:
      return user_ns::WriteIdMap(rt.child, "uid_map", s.a);
    case StepKind::kWriteGidMap:
      return user_ns::WriteIdMap(rt.child, "gid_map", s.a);
    case StepKind::kCreateCgroup: {
      auto dir = cgroup2::Create(CgroupFsOf(o), cgroup2::NewName(getpid()),
                                 cgroup2::Limits{o.cgroup_pids_max, o.cgroup_memory_max});
      if (!dir.ok()) return dir.status();
      rt.cgroup_dir = std::move(dir).value();
      return Status::Ok();
    }
    case StepKind::kAttachCgroup:
      return cgroup2::Attach(CgroupFsOf(o), rt.cgroup_dir, rt.child);
    case StepKind::kRemoveCgroup: {
      // The child ran and its status stands; a cgroup left behind is worth a
      // line on stderr, not a different exit code.
      Status st = cgroup2::Remove(CgroupFsOf(o), rt.cgroup_dir);
      if (!st.ok()) Report(st);
      rt.cgroup_dir.clear();
      return Status::Ok();
    }
    case StepKind::kReleaseChild: {
      char go = 'G';
      if (send(rt.sync_fd, &go, 1, MSG_NOSIGNAL) != 1) return SysError("handshake", "send(child, 'G')");
      close(rt.sync_fd);
      rt.sync_fd = -1;
      // The zygote owns the control socket now; holding a copy here would
      // hide its death (no EOF) from the supervisor until we exit too.
      if (o.profile == Profile::kRun && o.control_fd > STDERR_FILENO) close(o.control_fd);
      if (rt.run_filter_fd >= 0) close(rt.run_filter_fd);
      return Status::Ok();
    }
    case StepKind::kWaitChild:
      return WaitChild(rt);
    case StepKind::kWaitForParent: {
      char go = 0;
      ssize_t n;
      while ((n = recv(rt.sync_fd, &go, 1, 0)) < 0 && errno == EINTR) {
      }
      if (n != 1 || go != 'G') {
        if (n == 0) errno = EPIPE;
        return SysError("handshake", "recv(parent)");
      }
      close(rt.sync_fd);
      rt.sync_fd = -1;
      return Status::Ok();
    }
    case StepKind::kMakeRootSlave:
      return mount_ns::MakeRootSlave();
    case StepKind::kOpenBindSources: {
      std::vector<std::string> sources;
      for (const auto& st : rt.plan->steps) {
        if (IsBind(st.kind)) sources.push_back(st.a);
      }
      auto fds = mount_ns::OpenSources(sources);
      if (!fds.ok()) return fds.status();
      rt.bind_fds = std::move(fds).value();
      return Status::Ok();
    }
    case StepKind::kBecomeJailRoot:
      return user_ns::BecomeRoot();
    case StepKind::kMountBase:
      return mount_ns::MountTmpfs(s.a, 1 << 20, 0755, MS_NOSUID | MS_NODEV);
    case StepKind::kPivotToBase:
      return mount_ns::PivotToBase(s.a);
    case StepKind::kMountNewRoot:
      return mount_ns::MountTmpfs(s.b, 1 << 20, 0755, MS_NOSUID | MS_NODEV);
    case StepKind::kBindReadOnly:
    case StepKind::kBindReadWrite: {
      int fd = rt.bind_fds.at(rt.next_bind++);
      Status st = mount_ns::Bind(fd, s.a, s.b, "/oldroot/proc", s.kind == StepKind::kBindReadOnly);
      close(fd);
      return st;
    }
    case StepKind::kMask:
      return mount_ns::Mask(s.b, "/oldroot/dev/null");
    case StepKind::kMountProc:
      return mount_ns::MountProc(s.b);
    case StepKind::kRebindReadOnly:
      return mount_ns::RebindReadOnly(s.b);
    case StepKind::kMountDev:
      if (Status st = mount_ns::MkdirAll(s.b, 0755); !st.ok()) return st;
      return mount_ns::MountTmpfs(s.b, 64 << 10, 0755, MS_NOSUID | MS_NOEXEC);
    case StepKind::kBindDevNode:
      return mount_ns::BindDevNode(s.a, s.b);
    case StepKind::kSymlink:
      return mount_ns::Symlink(s.a, s.b);
    case StepKind::kMountTmp:
      if (Status st = mount_ns::MkdirAll(s.b, 0755); !st.ok()) return st;
      return mount_ns::MountTmpfs(s.b, s.n, 01777, MS_NOSUID | MS_NODEV);
    case StepKind::kRemountReadOnly:
      return mount_ns::MakeReadOnly(s.b, /*recursive=*/false);
    case StepKind::kPivotToNewRoot:
      return mount_ns::PivotToNewRoot(s.a);
    case StepKind::kSetHostname:
      if (sethostname(s.a.data(), s.a.size()) < 0) return SysError("uts_ns", "sethostname(" + s.a + ")");
      return Status::Ok();
    case StepKind::kSetupFds:
      return s.a == "keep-stdio" ? KeepStdio() : SetupFds(rt);
    case StepKind::kSetsid:
      // A new session without a controlling terminal: TIOCSTI has nothing to
      // push into, and the caller's job control cannot reach us.
      if (setsid() < 0) return SysError("setsid", "setsid()");
      return Status::Ok();
    case StepKind::kRlimitCore:
      return rlimits::NoCoreDumps();
    case StepKind::kSetRlimit:
      return rlimits::SetByName(s.a, s.n);
    case StepKind::kStartInit:
      return StartInit(rt, s);
    case StepKind::kLockSecurebits:
      return capabilities::LockSecurebits();
    case StepKind::kSetIdentity: {
      auto id = static_cast<uint32_t>(s.n);
      // EPERM when setgroups is denied (unprivileged map): then there are no
      // supplementary groups to drop.
      if (setgroups(0, nullptr) < 0 && errno != EPERM) return SysError("identity", "setgroups(0, NULL)");
      if (setresgid(id, id, id) < 0) return SysError("identity", "setresgid(" + std::to_string(id) + ")");
      if (setresuid(id, id, id) < 0) return SysError("identity", "setresuid(" + std::to_string(id) + ")");
      return Status::Ok();
    }
    case StepKind::kDropCapabilities:
      return capabilities::LimitTo(0);
    case StepKind::kNoNewPrivs:
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return SysError("nnp", "prctl(PR_SET_NO_NEW_PRIVS, 1)");
      return Status::Ok();
    case StepKind::kLandlockScope:
      return landlock::ScopeAbstractUnixSockets();
    case StepKind::kLandlockFilesystem:
      return RestrictToPaths(s.a, s.b);
    case StepKind::kChildSubreaper:
      if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return SysError("subreaper", "prctl(PR_SET_CHILD_SUBREAPER, 1)");
      return Status::Ok();
    case StepKind::kApplySeccomp:
    case StepKind::kExec: {
      // Both in one place so nothing runs between the filter and execve.
      std::vector<char*> argv;
      for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      std::vector<char*> envp;
      for (const auto& e : rt.plan->env) envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
      if (s.kind == StepKind::kApplySeccomp) {
        int err = InstallBpf(rt.filter_bpf.data(), rt.filter_bpf.size());
        if (err != 0) {
          errno = err;
          return SysError("seccomp", "seccomp(SECCOMP_SET_MODE_FILTER, " + (s.a.empty() ? "zygote" : s.a) +
                                         " filter of " + std::to_string(rt.filter_bpf.size()) + " insns)");
        }
        return Status::Ok();
      }
      execve(argv[0], argv.data(), envp.data());
      return SysError("exec", "execve(" + o.argv[0] + ")");
    }
  }
  return PlainError("plan", "unknown step");
}

}  // namespace

int RunPlan(const JailPlan& plan) {
  Runtime rt;
  rt.plan = &plan;
  for (const Step& step : plan.steps) {
    if (step.where != rt.role) continue;
    Status s = RunStep(rt, step);
    if (s.ok()) continue;
    Report(s);
    if (rt.role == Where::kChild) _exit(kSetupFailureExit);
    if (rt.role == Where::kParent) {
      // The child is blocked on the handshake; do not leave it behind.
      kill(rt.child, SIGKILL);
      int status;
      while (waitpid(rt.child, &status, __WALL) < 0 && errno == EINTR) {
      }
      if (!rt.cgroup_dir.empty()) (void)cgroup2::Remove(CgroupFsOf(plan.options), rt.cgroup_dir);
    }
    return kSetupFailureExit;
  }
  return rt.exit_code;
}

}  // namespace pycage::jail
