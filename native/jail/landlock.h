// Landlock: only the ABI probe for now (the reduced tier will build rules).
#pragma once

namespace pycage::jail::landlock {

// The kernel's Landlock ABI version, or 0 when Landlock is absent or disabled.
int AbiVersion();

}  // namespace pycage::jail::landlock
