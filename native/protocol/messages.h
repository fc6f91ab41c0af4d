// The JSON messages carried by frames (see native/PROTOCOL.md): builders for
// what the supervisor sends, simdjson parsers for what the jail sends back.
// Everything parsed here comes from inside the jail and is treated as hostile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pycage::protocol {

struct ChildLimits {
  uint64_t cpu_ms = 0;
  uint64_t memory_bytes = 0;
  uint64_t file_size_bytes = 0;
  uint64_t processes = 0;
  uint64_t tmp_bytes = 0;
  uint64_t open_files = 0;
};

std::string BuildRunCommand(uint64_t id, uint32_t slot, const ChildLimits& limits);
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
};
Result<RunReplyMeta> ParseRunReplyMeta(std::string_view json);

// Checks that a result frame is one well-formed JSON value no deeper than
// `max_depth`, so JS can JSON.parse it without surprises.
Status ValidateResultJson(std::string_view json, size_t max_depth);

}  // namespace pycage::protocol
