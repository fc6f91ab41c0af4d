// Capabilities: one way to lock securebits and one way to drop the sets, for
// the zygote, the installer, each run and the jail's init.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace pycage::jail::capabilities {

// Drops every capability not in `keep` from the bounding set, clears the
// inheritable set and the ambient set, and trims permitted/effective to `keep`.
Status LimitTo(uint64_t keep);

// Locks the process out of root's special treatment for good: SECBIT_NOROOT,
// NO_CAP_AMBIENT_RAISE and NO_SETUID_FIXUP set and locked, KEEP_CAPS locked.
// Needs CAP_SETPCAP. The recipe is always: LockSecurebits, then any uid
// switch (the capabilities survive it), then LimitTo(0).
Status LockSecurebits();

}  // namespace pycage::jail::capabilities
