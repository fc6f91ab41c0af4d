// Landlock: the ABI probe, and the scope restriction of the installer profile.
#pragma once

#include "common/status.h"

namespace pycage::jail::landlock {

// The kernel's Landlock ABI version, or 0 when Landlock is absent or disabled.
int AbiVersion();

// First ABI with scoped restrictions (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET).
inline constexpr int kScopeAbi = 6;

// Confines this process and its descendants to abstract AF_UNIX sockets made
// inside the same Landlock domain. A jail that shares the host's network
// namespace would otherwise reach every abstract socket the host listens on
// (they are scoped by network namespace, not by mount namespace). Needs
// NO_NEW_PRIVS and ABI >= kScopeAbi.
Status ScopeAbstractUnixSockets();

}  // namespace pycage::jail::landlock
