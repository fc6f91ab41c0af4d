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
  bool root = false;
  std::vector<std::string> missing;
  std::vector<std::string> fix;
};

// Forks short-lived children that clone real namespaces and _exit at once.
HostCapabilities Probe();
std::string ToJson(const HostCapabilities& caps);

}  // namespace pycage::jail::probe
