// Turns what was observed about a finished run into the RunOutcome JS sees.
// Pure: no I/O, so every branch is unit-tested.
#pragma once

#include <optional>
#include <string>

#include "protocol/messages.h"
#include "supervisor/run_types.h"

namespace pycage {

struct RunFacts {
  RunLimits limits;
  bool cancelled = false;
  bool timed_out = false;
  bool output_flooded = false;   // killed after draining far beyond the caps
  bool closing = false;          // the Sandbox was closed under the run
  Status host_failure;           // not ok: the host could not start the run
  std::optional<protocol::RunReplyMeta> reply;
  std::optional<std::string> result_json;
  std::string protocol_error;    // the run's channel carried something malformed
  std::optional<protocol::ControlMessage> exit;
  std::string zygote_death;      // non-empty: the zygote died before reporting the exit
  double wall_ms = 0;
};

// Fills everything but id, stdout/stderr and their truncation flags.
RunOutcome DecideOutcome(const RunFacts& facts);

std::string SignalName(int signal);

}  // namespace pycage
