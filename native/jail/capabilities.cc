#include "jail/capabilities.h"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "jail/sys_error.h"

namespace pycage::jail::capabilities {

Status LimitTo(uint64_t keep) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) < 0) return SysError("capabilities", "capget()");
  // Bounding set first: it needs CAP_SETPCAP, which the capset below may drop.
  // A process without CAP_SETPCAP (the reduced tier on a non-root host) holds
  // no capability to keep, and NO_NEW_PRIVS, set next, keeps an execve from
  // gaining any through its bounding set.
  const bool may_drop_bounding = (data[CAP_TO_INDEX(CAP_SETPCAP)].effective & CAP_TO_MASK(CAP_SETPCAP)) != 0;
  // One call per capability, no read before it: EINVAL marks the first
  // number past this kernel's last capability (each run pays these calls).
  for (unsigned cap = 0; may_drop_bounding && cap < 64; ++cap) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL) break;
    return SysError("capabilities", "prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    return SysError("capabilities", "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  if (syscall(SYS_capget, &header, data) < 0) return SysError("capabilities", "capget()");
  for (int i = 0; i < 2; ++i) {
    auto part = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective &= part;
    data[i].permitted &= part;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) < 0) return SysError("capabilities", "capset(keep)");
  return Status::Ok();
}

Status LockSecurebits() {
  // The one recipe (the jail's zygote, the installer and every run):
  // NO_SETUID_FIXUP on, so the capabilities survive the uid switch that
  // follows and LimitTo(0) can still drop the bounding set (which needs
  // CAP_SETPCAP); LimitTo(0) always comes next and empties every set.
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                       SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) {
    return SysError("capabilities", "prctl(PR_SET_SECUREBITS, " + std::to_string(bits) + ")");
  }
  return Status::Ok();
}

}  // namespace pycage::jail::capabilities
