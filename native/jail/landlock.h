// Landlock: the ABI probe, the scope restriction of the installer profile,
// and the filesystem rules of the reduced tier (its only filesystem jail).
#pragma once

#include <string>
#include <vector>

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

// What a domain may touch, as O_PATH descriptors of files or directories
// (the caller keeps them open). Everything else is out of reach, for reading
// too: a process under these rules sees only what they list.
struct FsRules {
  std::vector<int> read;   // read and execute, beneath each
  std::vector<int> write;  // read, execute, create, write and remove, beneath each
};

// O_PATH|O_CLOEXEC descriptor of an existing path, or the error naming it.
Result<int> OpenPath(const std::string& path);

// Restricts this process and its future children to `rules` (a new domain
// on top of any it is already in, so a run narrows its zygote's). With ABI
// >= kScopeAbi the domain is also scoped: no abstract AF_UNIX socket made
// outside it can be reached and no process outside it can be signalled.
// Needs NO_NEW_PRIVS (or CAP_SYS_ADMIN) and ABI >= 1.
Status RestrictFilesystem(const FsRules& rules);

}  // namespace pycage::jail::landlock
