// A trial of the jail a Sandbox would start: the same helper arguments as a
// zygote of that config, but the zygote only forks one confined run child
// (the per-run plan too) and exits. It proves on this host what the probe
// can only guess: namespaces, the /proc mounts, pivot_root, seccomp, the
// interpreter. Blocking; the addon runs it on the JS thread (constructor)
// or on a job thread (Sandbox.create, capabilities).
#pragma once

#include <string>

#include "common/status.h"
#include "supervisor/run_types.h"

namespace pycage {

struct TrialOutcome {
  bool ok = false;
  int exit_code = 0;    // the helper's, when it exited
  int term_signal = 0;  // the signal that killed it, else 0
  bool timed_out = false;
  double wall_ms = 0;
  std::string log;  // what the helper and the zygote wrote to stderr (at most 64 KiB)
};

// Runs the trial; an error only when the helper cannot be started at all.
Result<TrialOutcome> RunTrialJail(const SupervisorConfig& config, int timeout_ms);

}  // namespace pycage
