// The jail's pid 1 in the full tier. It keeps the privileges the jail's
// setup had, runs no Python and loads no bundle, and does three things:
//   - maps each run's new user namespace to that run's uid slot, when the
//     run's spare asks (id_map_request.h), after checking who asks;
//   - reaps every process the jail orphans;
//   - ends the jail when the zygote ends: kills what is left and exits with
//     the zygote's status.
// See docs/ARCHITECTURE.md, "No privilege near bundle code".
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/status.h"

namespace pycage::jail::jail_init {

struct SlotRange {
  uint32_t first = 0;  // a run may be mapped to uids first..last
  uint32_t last = 0;
  uid_t zygote_uid = 0;  // the only uid that may ask (as the init sees it)
};

// Whether `slot` may be mapped for a request from (pid, uid) whose parent is
// `parent_pid`: the pure part of the init's check, tested alone.
bool MayMap(const SlotRange& range, pid_t zygote, pid_t parent_pid, uid_t uid, uint32_t slot);

// The map lines the init writes for a slot: the run sees its own uid inside.
std::string IdMapLine(uint32_t slot);

// Never returns: serves `init_fd` and reaps until `zygote` exits.
[[noreturn]] void Serve(int init_fd, pid_t zygote, const SlotRange& range);

}  // namespace pycage::jail::jail_init
