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
  std::string_view name;  // "full", "bypass": --tier, PYCAGE_TIER, RunResult.isolation
  // namespaces, per_run_namespaces, per_run_uid, drops_capabilities, seccomp,
  // cgroup_limits, binds_paths, installer_jail, landlock_fs: see the table's "properties".
  PYCAGE_PROFILE_FIELDS
};

const IsolationProfile& ProfileOf(Tier tier);
// nullptr for a name that is no tier.
const IsolationProfile* ProfileNamed(std::string_view name);

}  // namespace pycage
