// Plain structs that cross from the addon into the supervisor and back.
// The addon converts JS values into these before any work starts (sharp's
// "baton"), so nothing below ever touches JS.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/isolation_profile.h"
#include "common/limits_table.h"
#include "common/status.h"
#include "protocol/messages.h"

namespace pycage {

// Every limit of native/limits.json, with its default.
struct RunLimits {
#define PYCAGE_LIMIT_MEMBER(member, key, fallback) uint64_t member = fallback;
  PYCAGE_RUN_LIMITS(PYCAGE_LIMIT_MEMBER)
#undef PYCAGE_LIMIT_MEMBER
};

struct RunRequest {
  uint64_t id = 0;
  std::string code;
  std::string inputs_json = "{}";
  RunLimits limits;
  // Non-empty: a call of this session (a long-lived run child in the zygote
  // that keeps its globals between calls). At most one call of a session is
  // in flight; the JS layer orders them.
  std::string session;
  // Set by the supervisor: when it was submitted (uv_hrtime ns), and at its
  // start how long it queued and whether it waited for a warm interpreter
  // to start (a cold start).
  uint64_t submitted_ns = 0;
  double queue_ms = 0;
  bool cold_start = false;
};

// What JS gets back. `rejection` not ok means the promise rejects (a fault of
// the caller or the host); otherwise it resolves with status ok or error.
struct RunOutcome {
  uint64_t id = 0;
  Status rejection;
  std::string result_json;
  std::string stdout_data;
  std::string stderr_data;
  std::optional<protocol::RunError> error;
  // From the run's reply (ok or error): matplotlib figures, whether some were
  // dropped at the runner's caps, and the restrictions audit (warn mode).
  std::vector<protocol::Figure> figures;
  std::vector<protocol::AuditEntry> audit;
  // Modules the run imported that its zygote lacked (adaptive preload).
  std::vector<std::string> imported;
  double wall_ms = 0;
  double cpu_ms = 0;
  double queue_ms = 0;  // from submission to its start
  uint64_t peak_memory_kb = 0;
  bool ok = false;
  bool truncated_stdout = false;
  bool truncated_stderr = false;
  bool truncated_figures = false;
  // A session call that was served by a freshly started session process.
  bool session_started = false;
  bool cold_start = false;  // it waited for its pool's warm interpreter to start
};

struct SupervisorConfig {
  std::string helper_path;                   // the pycage-jail executable
  std::string runner_dir;                    // host path of native/runner
  std::string python;                        // absolute path of the interpreter
  std::vector<std::string> python_prefixes;  // bound read-only in the jail
  Tier tier = Tier::kFull;
  size_t concurrency = 4;                    // runs in flight at once
  size_t max_queue = 1000;                   // queued beyond that: ERR_OVERLOADED
  size_t max_sessions = 0;                   // live sessions each hold a jail uid of their own
  uint64_t zygote_idle_ms = 300'000;         // retire an idle zygote after this
  uint32_t uid_base = 0;                     // 0: pick one from the pid
  // A bundle's zygote: its package tree bound read-only ("SRC:DST", full
  // tier) and PYCAGE_SITE / PYCAGE_PRELOAD for the runner ("KEY=VALUE").
  std::vector<std::string> extra_ro_binds;
  std::vector<std::string> extra_env;
  // A delegated cgroup v2 directory (its cgroup.subtree_control lists pids
  // and memory); empty: no cgroup. Full tier only. Each zygote's jail gets
  // its own child cgroup with these limits; 0 derives them from the defaults
  // of RunLimits: pids uid_count * processes + 64, memory (concurrency + 2) *
  // memory_bytes. The addon should set them from the Sandbox's own limits.
  std::string cgroup_root;
  uint64_t cgroup_pids_max = 0;
  uint64_t cgroup_memory_max = 0;
  // Called on the supervisor thread. The addon forwards them to JS.
  std::function<void(RunOutcome)> on_outcome;
  std::function<void(std::string)> on_log;
  // A warm interpreter that had served runs died (it is replaced when work comes).
  std::function<void(std::string reason)> on_restart;
};

}  // namespace pycage
