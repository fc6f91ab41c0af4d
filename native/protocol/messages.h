// The JSON messages carried by frames (see native/PROTOCOL.md): builders for
// what the supervisor sends, simdjson parsers for what the jail sends back.
// Everything parsed here comes from inside the jail and is treated as hostile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/limits_table.h"
#include "common/status.h"

namespace pycage::protocol {

// The limits of scope "child" in native/limits.json: sent in the run command
// and enforced inside the run.
struct ChildLimits {
#define PYCAGE_LIMIT_MEMBER(member, key, fallback) uint64_t member = 0;
  PYCAGE_CHILD_LIMITS(PYCAGE_LIMIT_MEMBER)
#undef PYCAGE_LIMIT_MEMBER
};

// `session` empty: a one-shot run; otherwise a call of that session.
std::string BuildRunCommand(uint64_t id, uint32_t slot, const ChildLimits& limits, std::string_view session = {});
std::string BuildCloseSessionCommand(std::string_view session);
std::string BuildKillCommand(uint64_t id);
std::string BuildShutdownCommand();
std::string BuildRunRequestMeta(std::string_view code, uint64_t result_bytes);

// A message from the zygote on the control socket.
struct ControlMessage {
  enum class Op { kReady, kExit };
  Op op = Op::kReady;
  // ready
  std::string python_version;
  std::string abi;
  // exit
  uint64_t id = 0;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double cpu_ms = 0;
  uint64_t max_rss_kb = 0;
  std::optional<std::string> setup_error;
};
Result<ControlMessage> ParseControlMessage(std::string_view json);

struct RunError {
  std::string type;
  std::string message;
  std::string traceback;
  std::optional<int> line;
};

// Caps on the optional reply-meta fields; the runner keeps within them
// (native/runner/figures.py, restrictions.py), anything beyond is malformed.
inline constexpr size_t kMaxFigures = 16;
inline constexpr size_t kMaxFigurePngBytes = 4U << 20;  // decoded, all figures together
inline constexpr size_t kMaxAuditEntries = 256;
inline constexpr size_t kMaxAuditNameBytes = 1024;
inline constexpr size_t kMaxAuditMessageBytes = 4096;
// Adaptive preload: the modules a run imported that its zygote lacked, by
// name only (runner/learning.py keeps to the same caps).
inline constexpr size_t kMaxImportedModules = 64;
inline constexpr size_t kMaxModuleNameBytes = 200;
// The whole meta frame: figures (base64 of kMaxFigurePngBytes is 5.4 MiB),
// error text and audit with room to spare.
inline constexpr size_t kMaxReplyMetaBytes = 8U << 20;

// A matplotlib figure: type is always "image/png", data the base64 PNG.
struct Figure {
  std::string type;
  std::string data;
};

// A denied import or member access let through in warn mode.
struct AuditEntry {
  std::string kind;  // "module" | "member"
  std::string name;
  std::string message;
};

// What the runner sends on its channel once the run's setup is done, before
// the node's code runs; the reply follows it.
inline constexpr std::string_view kRunStartedFrame = R"({"status":"started"})";

// The first frame a run sends back on its channel (after kRunStartedFrame).
struct RunReplyMeta {
  enum class Status { kOk, kError, kSetupError };
  Status status = Status::kOk;
  RunError error;             // kError
  std::string setup_message;  // kSetupError
  // The run's own getrusage at reply time, so the outcome need not wait for
  // the exit report.
  std::optional<double> cpu_ms;
  std::optional<uint64_t> max_rss_kb;
  // A session call served by a session process that was just started.
  bool session_started = false;
  // kOk and kError: the call's figures and restrictions audit.
  std::vector<Figure> figures;
  bool figures_truncated = false;
  std::vector<AuditEntry> audit;
  // kOk and kError: dotted module names (IsModuleName), a hint for the host.
  std::vector<std::string> imported;
};
Result<RunReplyMeta> ParseRunReplyMeta(std::string_view json);

// A dotted Python module name of ASCII identifiers, 1 to kMaxModuleNameBytes.
bool IsModuleName(std::string_view name);

// Checks that a result frame is one well-formed JSON value no deeper than
// `max_depth`, so JS can JSON.parse it without surprises.
Status ValidateResultJson(std::string_view json, size_t max_depth);

}  // namespace pycage::protocol
