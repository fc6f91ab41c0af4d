// A bind remount that keeps what the kernel locked. When a mount namespace
// is copied into a less privileged user namespace, the kernel locks the
// flags of every mount (nosuid, nodev, noexec, the atime mode, read-only):
// a remount must restate them all or it fails with EPERM.
#pragma once

#include <string>

#include "common/status.h"

namespace pycage::jail::remount {

// Remounts the bind mount at `path` with its current flags plus nosuid and
// nodev, and read-only when asked. `stage` names the caller in errors.
Status Bind(const char* path, bool read_only, const char* stage);

}  // namespace pycage::jail::remount
