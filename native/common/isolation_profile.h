// The isolation tier as a value. Code asks a property of the profile ("does
// this tier build namespaces?") instead of comparing the tier's name, so a new
// tier is one new row of native/runner/profiles.json plus the steps its
// properties turn on. JS (js/profiles.js) and the runner (profiles.py) read
// the same file; cmake/profiles_table.cmake generates the rows below.
#pragma once

#include <string_view>

#include "common/isolation_profiles_table.h"

namespace pycage {

enum class Tier { PYCAGE_TIER_ENUMERATORS };

struct IsolationProfile {
  Tier tier;
  std::string_view name;    // "full", "bypass": --tier, PYCAGE_TIER, RunResult.isolation
  bool namespaces;          // user, mount, pid, net, ipc, uts, cgroup namespaces and pivot_root
  bool per_run_namespaces;  // each run gets its own pid and mount namespaces and /tmp
  bool per_run_uid;         // each run slot its own host uid (where the host is root)
  bool drops_capabilities;  // the jail's processes give up every capability
  bool seccomp;             // the zygote, run and installer seccomp filters
  bool cgroup_limits;       // the jail may run in a cgroup of its own under a delegated root
  bool binds_paths;         // host paths reach the jail only as bind mounts (else: as they are)
  bool installer_jail;      // installs run pip or uv inside the installer jail
};

const IsolationProfile& ProfileOf(Tier tier);
// nullptr for a name that is no tier.
const IsolationProfile* ProfileNamed(std::string_view name);

}  // namespace pycage
