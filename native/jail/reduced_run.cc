#include "jail/reduced_run.h"

#include <sys/prctl.h>

#include <cerrno>

#include "jail/landlock.h"
#include "jail/seccomp_apply.h"
#include "jail/sys_error.h"

namespace pycage::jail::reduced_run {

std::string FormatPlan() {
  return "run    no-new-privs\n"
         "run    landlock-filesystem read: the zygote's read-only paths; write: the run's scratch directory; "
         "scoped signals and abstract sockets (ABI >= 6)\n"
         "run    apply-seccomp run-contained (setsid and setpgid refused)\n";
}

Status Execute(const Spec& spec) {
  // Already set by the zygote's own jail; said again so this plan stands alone.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return SysError("nnp", "prctl(PR_SET_NO_NEW_PRIVS, 1)");
  landlock::FsRules rules;
  rules.read = spec.read_fds;
  rules.write = spec.write_fds;
  if (Status s = landlock::RestrictFilesystem(rules); !s.ok()) return s;
  if (spec.filter == nullptr) return Status::Ok();
  if (int err = InstallBpf(spec.filter, spec.filter_len); err != 0) {
    errno = err;
    return SysError("seccomp", "seccomp(SECCOMP_SET_MODE_FILTER, run filter of " + std::to_string(spec.filter_len) +
                                   " insns)");
  }
  return Status::Ok();
}

}  // namespace pycage::jail::reduced_run
