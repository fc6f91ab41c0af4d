// What a jail's procfs hides: the host kernel's command line, symbols,
// config, key rings, timers and scheduler internals, and the hardware
// directories, as Docker and gVisor hide them. A masked file shows
// /dev/null, a masked directory an empty read-only tmpfs (one, bound to
// each); /proc/sys turns read-only. Used for each run's own procfs (run_jail.h) and for the
// installer jail's (jail_plan.h).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace pycage::jail::proc_mask {

// Entries below /proc ("cmdline", "acpi"…); those a kernel lacks are skipped.
const std::vector<std::string>& MaskedNames();

// Masks MaskedNames() below `proc` and makes `proc`/sys read-only, with
// plain mount(2) calls only (MS_BIND, MS_REMOUNT, tmpfs): what the zygote
// filter allows a run child inside its own mount namespace. Allocates no
// memory unless a step fails: a run child is a fresh fork of the warm
// interpreter, and each malloc there writes to (so copies) a page of the
// interpreter's heap.
Status MaskRunProc(const char* proc, const char* null_node);

}  // namespace pycage::jail::proc_mask
