#include "jail/landlock.h"

#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "jail/sys_error.h"

namespace pycage::jail::landlock {
namespace {

// struct landlock_ruleset_attr as of ABI 6; older uapi headers stop earlier.
struct RulesetAttrV6 {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;

}  // namespace

int AbiVersion() {
#ifdef SYS_landlock_create_ruleset
  long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v > 0 ? static_cast<int>(v) : 0;
#else
  return 0;
#endif
}

Status ScopeAbstractUnixSockets() {
#ifdef SYS_landlock_create_ruleset
  RulesetAttrV6 attr{0, 0, kScopeAbstractUnixSocket};
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0) return SysError("landlock", "landlock_create_ruleset(scoped=ABSTRACT_UNIX_SOCKET)");
  long rc = syscall(SYS_landlock_restrict_self, fd, 0);
  int err = errno;
  close(static_cast<int>(fd));
  if (rc < 0) {
    errno = err;
    return SysError("landlock", "landlock_restrict_self()");
  }
  return Status::Ok();
#else
  errno = ENOSYS;
  return SysError("landlock", "landlock_create_ruleset(scoped=ABSTRACT_UNIX_SOCKET)");
#endif
}

}  // namespace pycage::jail::landlock
