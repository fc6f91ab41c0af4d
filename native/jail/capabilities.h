// Capabilities: what the zygote keeps, and how a run drops everything.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace pycage::jail::capabilities {

// The zygote's bounding set (inside its user namespace): CAP_SYS_ADMIN for
// unshare/setns/mount, CAP_SETUID/CAP_SETGID for the per-run uid slot,
// CAP_SETPCAP to drop the bounding set and lock securebits in the run,
// CAP_KILL to kill a run that runs as another uid.
uint64_t ZygoteKeep();

// Drops every capability not in `keep` from the bounding set, clears the
// inheritable set and the ambient set, and trims permitted/effective to `keep`.
Status LimitTo(uint64_t keep);

// Locks the process out of root's special treatment for good: SECBIT_NOROOT,
// NO_CAP_AMBIENT_RAISE, KEEP_CAPS and NO_SETUID_FIXUP locked off (so a later
// setresuid away from uid 0 still clears the capability sets). Needs
// CAP_SETPCAP, so call it before setresuid.
Status LockSecurebits();

}  // namespace pycage::jail::capabilities
