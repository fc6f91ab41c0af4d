// Whether this process may put a pool's jails under uids of their own: the
// one rule behind the reduced tier's lanes (supervisor/zygote.cc) and what
// the probe reports to Sandbox.capabilities() and `pycage doctor`.
#pragma once

#include <cstdint>

namespace pycage {

// A pool's jail uids lie in [kPoolUidFirst, kPoolUidFirst + kPoolUidSpan),
// far from any uid a distribution hands out (supervisor.cc, PickUidBase).
inline constexpr uint64_t kPoolUidFirst = 1ULL << 30;
inline constexpr uint64_t kPoolUidSpan = 1ULL << 30;

// Whether one line of /proc/self/uid_map maps every uid in [first, first + count).
bool MapsUids(uint64_t first, uint64_t count);

// CAP_SETUID and CAP_SETGID in this thread's effective set.
bool HoldsSetIdCapabilities();

// Root that may switch to any pool uid: effective uid 0, both capabilities,
// and a user namespace that maps the pool's range (the initial one does;
// rootless podman's default maps only a few thousand uids).
bool MaySwitchToPoolUids();

}  // namespace pycage
