#include "jail/run_jail.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "jail/capabilities.h"
#include "jail/id_map_request.h"
#include "jail/landlock.h"
#include "jail/proc_mask.h"
#include "jail/seccomp_apply.h"
#include "jail/sys_error.h"

namespace pycage::jail::run_jail {
namespace {

// The child phase, in order: Execute runs these and Plan prints them.
constexpr StepKind kChildSteps[] = {
    StepKind::kRequestIdMap,      StepKind::kMountProc,     StepKind::kMaskProc,
    StepKind::kMountTmp,          StepKind::kLockSecurebits, StepKind::kSetIdentity,
    StepKind::kDropCapabilities,  StepKind::kNoNewPrivs,    StepKind::kScopeAbstractUnixSockets,
    StepKind::kApplySeccomp,
};

Status RunStep(StepKind kind, const Spec& spec) {
  switch (kind) {
    case StepKind::kCloneNamespaces:
      return PlainError("run-plan", "the clone step belongs to the fork (Clone), not to the child");
    case StepKind::kRequestIdMap:
      return id_map_request::Send(spec.init_fd, spec.slot);
    case StepKind::kMountProc:
      if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) {
        return SysError("mounts", "mount(proc, /proc)");
      }
      return Status::Ok();
    case StepKind::kMaskProc:
      return proc_mask::MaskRunProc("/proc", "/dev/null");
    case StepKind::kMountTmp:
      if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, spec.tmp_options) < 0) {
        return SysError("mounts", std::string("mount(tmpfs, /tmp, ") + spec.tmp_options + ")");
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
    case StepKind::kScopeAbstractUnixSockets:
      if (landlock::AbiVersion() < landlock::kScopeAbi) return Status::Ok();  // the filter's fallback
      return landlock::ScopeAbstractUnixSockets();
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
    case StepKind::kCloneNamespaces: return "clone-user-mount-pid-ns";
    case StepKind::kRequestIdMap: return "request-id-map";
    case StepKind::kMountProc: return "mount-proc";
    case StepKind::kMaskProc: return "mask-proc";
    case StepKind::kMountTmp: return "mount-tmp";
    case StepKind::kLockSecurebits: return "lock-securebits";
    case StepKind::kSetIdentity: return "set-identity";
    case StepKind::kDropCapabilities: return "drop-capabilities";
    case StepKind::kNoNewPrivs: return "no-new-privs";
    case StepKind::kScopeAbstractUnixSockets: return "landlock-scope-abstract-unix";
    case StepKind::kApplySeccomp: return "apply-seccomp";
  }
  return "?";
}

namespace {

// What --print-plan shows after a step's name.
std::string ArgOf(StepKind kind, const Spec& spec) {
  std::string slot = std::to_string(spec.slot);
  switch (kind) {
    case StepKind::kCloneNamespaces: return "spares: by the fork server, with CLONE_PARENT";
    case StepKind::kRequestIdMap: return "uid_map/gid_map \"" + slot + " " + slot + " 1\"";
    case StepKind::kMountProc: return "/proc";
    case StepKind::kMaskProc: return "cmdline kallsyms … sysrq-trigger, acpi bus irq …; /proc/sys read-only";
    case StepKind::kMountTmp: return spec.tmp_options;
    case StepKind::kSetIdentity: return slot;
    case StepKind::kDropCapabilities: return "all";
    case StepKind::kScopeAbstractUnixSockets: return "(Landlock ABI >= 6; else the filter refuses AF_UNIX)";
    case StepKind::kApplySeccomp: return "run";
    case StepKind::kLockSecurebits:
    case StepKind::kNoNewPrivs: return {};
  }
  return {};
}

}  // namespace

std::vector<Step> Plan(const Spec& spec) {
  std::vector<Step> steps{{Phase::kFork, StepKind::kCloneNamespaces, ArgOf(StepKind::kCloneNamespaces, spec)}};
  for (StepKind kind : kChildSteps) steps.push_back({Phase::kChild, kind, ArgOf(kind, spec)});
  return steps;
}

std::string FormatPlan(const std::vector<Step>& steps) {
  std::ostringstream out;
  for (const Step& s : steps) {
    out << (s.phase == Phase::kFork ? "fork   " : "run    ") << StepName(s.kind);
    if (!s.arg.empty()) out << " " << s.arg;
    out << "\n";
  }
  return out.str();
}

int ThreadCount() {
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // The command name may hold spaces and parentheses: count fields after its last ')'.
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return -1;
  for (int field = 2; field < 20; ++field) {
    p = strchr(p + 1, ' ');
    if (p == nullptr) return -1;
  }
  return atoi(p + 1);
}

namespace {

constexpr unsigned long kRunNamespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID;

// A fork-like clone: no new stack, so the child returns here on a copy of
// the caller's memory. SIGCHLD makes it an ordinary child for wait4.
pid_t RawClone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (pid < 0) return -errno;
  return static_cast<pid_t>(pid);
}

}  // namespace

pid_t Clone() {
  if (ThreadCount() != 1) return -EDEADLK;
  return RawClone(kRunNamespaces);
}

pid_t CloneSibling() { return RawClone(kRunNamespaces | CLONE_PARENT); }

Status Execute(const Spec& spec) {
  // From the constant list, not from Plan(), whose text would be allocated.
  for (StepKind kind : kChildSteps) {
    if (Status s = RunStep(kind, spec); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace pycage::jail::run_jail
