#include "jail/run_jail.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "jail/capabilities.h"
#include "jail/id_map_request.h"
#include "jail/seccomp_apply.h"
#include "jail/sys_error.h"

namespace pycage::jail::run_jail {
namespace {

Status RunStep(const Step& step, const Spec& spec) {
  switch (step.kind) {
    case StepKind::kEnterUserNs:
      if (unshare(CLONE_NEWUSER) < 0) return SysError("run-userns", "unshare(CLONE_NEWUSER)");
      return Status::Ok();
    case StepKind::kRequestIdMap:
      return id_map_request::Send(spec.init_fd, spec.slot);
    case StepKind::kEnterMountPidNs:
      if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0) return SysError("run-ns", "unshare(CLONE_NEWNS|CLONE_NEWPID)");
      return Status::Ok();
    case StepKind::kSetParentDeathSignal:
      if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return SysError("keeper", "prctl(PR_SET_PDEATHSIG, SIGKILL)");
      return Status::Ok();
    case StepKind::kCheckKeeper: {
      if (spec.keeper_fd < 0) return Status::Ok();
      pollfd p{spec.keeper_fd, POLLIN, 0};
      int n = poll(&p, 1, 0);
      if (n != 0) {
        errno = n < 0 ? errno : ESRCH;
        return SysError("keeper", "the spare died before the run's death signal was armed");
      }
      close(spec.keeper_fd);
      return Status::Ok();
    }
    case StepKind::kMountProc:
      if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) {
        return SysError("mounts", "mount(proc, /proc)");
      }
      return Status::Ok();
    case StepKind::kMountTmp:
      if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, step.arg.c_str()) < 0) {
        return SysError("mounts", "mount(tmpfs, /tmp, " + step.arg + ")");
      }
      return Status::Ok();
    case StepKind::kLockSecurebits:
      return capabilities::LockSecurebits();
    case StepKind::kSetIdentity:
      // setgroups is denied in this namespace (the init wrote "deny"): the
      // only group left is the one the map gives.
      if (setresgid(spec.slot, spec.slot, spec.slot) < 0) {
        return SysError("identity", "setresgid(" + std::to_string(spec.slot) + ")");
      }
      if (setresuid(spec.slot, spec.slot, spec.slot) < 0) {
        return SysError("identity", "setresuid(" + std::to_string(spec.slot) + ")");
      }
      return Status::Ok();
    case StepKind::kDropCapabilities:
      return capabilities::LimitTo(0);
    case StepKind::kNoNewPrivs:
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return SysError("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS, 1)");
      return Status::Ok();
    case StepKind::kApplySeccomp: {
      if (spec.filter == nullptr) return Status::Ok();
      int err = InstallBpf(spec.filter, spec.filter_len);
      if (err != 0) {
        errno = err;
        return SysError("seccomp", "seccomp(SECCOMP_SET_MODE_FILTER, run filter of " +
                                       std::to_string(spec.filter_len) + " insns)");
      }
      return Status::Ok();
    }
  }
  return PlainError("run-plan", "unknown step");
}

}  // namespace

const char* StepName(StepKind kind) {
  switch (kind) {
    case StepKind::kEnterUserNs: return "unshare-user-ns";
    case StepKind::kRequestIdMap: return "request-id-map";
    case StepKind::kEnterMountPidNs: return "unshare-mount-pid-ns";
    case StepKind::kSetParentDeathSignal: return "set-parent-death-signal";
    case StepKind::kCheckKeeper: return "check-keeper";
    case StepKind::kMountProc: return "mount-proc";
    case StepKind::kMountTmp: return "mount-tmp";
    case StepKind::kLockSecurebits: return "lock-securebits";
    case StepKind::kSetIdentity: return "set-identity";
    case StepKind::kDropCapabilities: return "drop-capabilities";
    case StepKind::kNoNewPrivs: return "no-new-privs";
    case StepKind::kApplySeccomp: return "apply-seccomp";
  }
  return "?";
}

std::vector<Step> Plan(const Spec& spec) {
  const std::string slot = std::to_string(spec.slot);
  return {
      {Phase::kSpare, StepKind::kEnterUserNs, {}},
      {Phase::kSpare, StepKind::kRequestIdMap, "uid_map/gid_map \"" + slot + " " + slot + " 1\""},
      {Phase::kSpare, StepKind::kEnterMountPidNs, {}},
      {Phase::kRun, StepKind::kMountProc, "/proc"},
      {Phase::kRun, StepKind::kMountTmp, spec.tmp_options},
      {Phase::kRun, StepKind::kLockSecurebits, {}},
      {Phase::kRun, StepKind::kSetIdentity, slot},
      {Phase::kRun, StepKind::kDropCapabilities, "all"},
      // After the uid switch, which clears the parent-death signal.
      {Phase::kRun, StepKind::kSetParentDeathSignal, "SIGKILL"},
      {Phase::kRun, StepKind::kCheckKeeper, {}},
      {Phase::kRun, StepKind::kNoNewPrivs, {}},
      {Phase::kRun, StepKind::kApplySeccomp, "run"},
  };
}

std::string FormatPlan(const std::vector<Step>& steps) {
  std::ostringstream out;
  for (const Step& s : steps) {
    out << (s.phase == Phase::kSpare ? "spare  " : "run    ") << StepName(s.kind);
    if (!s.arg.empty()) out << " " << s.arg;
    out << "\n";
  }
  return out.str();
}

Status Execute(Phase phase, const Spec& spec) {
  for (const Step& step : Plan(spec)) {
    if (step.phase != phase) continue;
    if (Status s = RunStep(step, spec); !s.ok()) return s;
  }
  return Status::Ok();
}

void Keep(pid_t run_pid1, int hold_fd) {
  // Hold nothing of the run's: its sockets must reach EOF when it exits.
  if (hold_fd > 0) syscall(SYS_close_range, 0, hold_fd - 1, 0);
  syscall(SYS_close_range, hold_fd + 1, ~0U, 0);
  int status = 0;
  while (waitpid(run_pid1, &status, __WALL) < 0) {
    if (errno != EINTR) _exit(127);
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    kill(getpid(), sig);
    _exit(128 + sig);
  }
  _exit(WEXITSTATUS(status));
}

}  // namespace pycage::jail::run_jail
