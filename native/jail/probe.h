// What this host allows, for `pycage-jail --probe` and Sandbox.capabilities().
#pragma once

#include <string>
#include <vector>

namespace pycage::jail::probe {

struct HostCapabilities {
  bool userns = false;
  bool mountns = false;
  bool pidns = false;
  bool netns = false;
  bool all_namespaces = false;  // the full tier's exact clone succeeded
  bool seccomp = false;
  int landlock_abi = 0;
  bool cgroup2_delegated = false;
  // The cgroup root the caller named (--cgroup-root or PYCAGE_CGROUP_ROOT):
  // usable as --cgroup-root, and why (not).
  bool cgroup2_available = false;
  std::string cgroup2_reason;
  bool root = false;
  // Root that may put each jail under a uid of its own (MaySwitchToPoolUids):
  // the reduced tier's per-run uids.
  bool switch_uid = false;
  std::vector<std::string> missing;
  std::vector<std::string> fix;
};

// Forks short-lived children that clone real namespaces and _exit at once.
// `cgroup_root` (may be empty) is checked as --cgroup-root would be.
HostCapabilities Probe(const std::string& cgroup_root = {});
std::string ToJson(const HostCapabilities& caps);

}  // namespace pycage::jail::probe
