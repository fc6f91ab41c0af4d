#include "supervisor/outcome.h"

#include <csignal>
#include <cstring>

namespace pycage {
namespace {

std::string Megabytes(uint64_t bytes) {
  const uint64_t mb = bytes >> 20;
  if (mb << 20 == bytes) return std::to_string(mb) + " MB";
  return std::to_string(bytes) + " bytes";
}

std::string Seconds(uint64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

protocol::RunError MakeError(std::string type, std::string message) {
  protocol::RunError error;
  error.type = std::move(type);
  error.message = std::move(message);
  error.traceback = error.type + ": " + error.message;
  return error;
}

}  // namespace

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

RunOutcome DecideOutcome(const RunFacts& facts) {
  RunOutcome outcome;
  outcome.wall_ms = facts.wall_ms;
  outcome.session_started = facts.reply && facts.reply->session_started;
  if (facts.exit) {
    outcome.cpu_ms = facts.exit->cpu_ms;
    outcome.peak_memory_kb = facts.exit->max_rss_kb;
  } else if (facts.reply) {
    outcome.cpu_ms = facts.reply->cpu_ms.value_or(0);
    outcome.peak_memory_kb = facts.reply->max_rss_kb.value_or(0);
  }
  auto fail = [&](std::string type, std::string message) {
    outcome.ok = false;
    outcome.error = MakeError(std::move(type), std::move(message));
    return outcome;
  };
  const RunLimits& limits = facts.limits;

  // The supervisor's own verdicts come first: they explain why the child died.
  if (!facts.host_failure.ok()) {
    outcome.rejection = facts.host_failure;
    return outcome;
  }
  if (facts.closing) {
    outcome.rejection = Status::Error(ErrorCode::kClosed, "the Sandbox was closed while the run was in flight");
    return outcome;
  }
  if (facts.cancelled) return fail("Cancelled", "the run was cancelled by its AbortSignal");
  if (facts.timed_out) {
    return fail("TimeoutError", "the run exceeded its wall-time limit of " + Seconds(limits.wall_ms) +
                                    "; raise limits.wallMs or make the node do less work");
  }
  if (facts.output_flooded) {
    return fail("OutputLimitExceeded", "the run kept writing to stdout/stderr far beyond the " +
                                           Megabytes(limits.stdout_bytes) + " cap and was stopped");
  }

  if (facts.reply) {
    if (facts.reply->status != protocol::RunReplyMeta::Status::kSetupError) {
      outcome.figures = facts.reply->figures;
      outcome.truncated_figures = facts.reply->figures_truncated;
      outcome.audit = facts.reply->audit;
      outcome.imported = facts.reply->imported;
    }
    switch (facts.reply->status) {
      case protocol::RunReplyMeta::Status::kSetupError:
        outcome.rejection = Status::Error(ErrorCode::kIsolationUnavailable,
                                          "the jail could not set up the run: " + facts.reply->setup_message);
        return outcome;
      case protocol::RunReplyMeta::Status::kError:
        outcome.ok = false;
        outcome.error = facts.reply->error;
        return outcome;
      case protocol::RunReplyMeta::Status::kOk:
        if (facts.result_json) {
          outcome.ok = true;
          outcome.result_json = *facts.result_json;
          return outcome;
        }
        break;  // a reply without its result frame: judge by the exit below
    }
  }
  if (!facts.protocol_error.empty()) {
    return fail("ProtocolError", "the run sent a malformed reply on its result channel (" + facts.protocol_error + ")");
  }

  if (!facts.zygote_death.empty() && !facts.exit) {
    return fail("Crashed", "the warm interpreter died during the run (" + facts.zygote_death +
                               "); nothing of the run survived, so it is safe to retry");
  }
  if (!facts.exit) return fail("Crashed", "the run ended without an exit report");

  const protocol::ControlMessage& exit = *facts.exit;
  if (exit.setup_error) {
    outcome.rejection = Status::Error(ErrorCode::kIsolationUnavailable, "the run could not start: " + *exit.setup_error);
    return outcome;
  }
  if (exit.signal) {
    const int signal = *exit.signal;
    if (signal == SIGXCPU || (signal == SIGKILL && exit.cpu_ms >= static_cast<double>(limits.cpu_ms))) {
      return fail("CpuLimitExceeded", "the run used more than its CPU-time limit of " + Seconds(limits.cpu_ms) +
                                          "; raise limits.cpuMs or make the node do less work");
    }
    if (signal == SIGSYS) {
      return fail("SandboxViolation",
                  "the run made a system call that the sandbox forbids and was killed (SIGSYS); "
                  "Python nodes cannot use raw system calls such as ptrace, mount or network sockets");
    }
    if (signal == SIGXFSZ) {
      return fail("OutputLimitExceeded", "a file written by the run exceeded the " + Megabytes(limits.file_size_bytes) +
                                             " file-size limit");
    }
    std::string message = "the interpreter was killed by " + SignalName(signal) + " before it replied";
    if (signal == SIGSEGV || signal == SIGABRT || signal == SIGBUS) {
      message += "; a native extension may have run out of its " + Megabytes(limits.memory_bytes) +
                 " address space (limits.memoryBytes)";
    }
    return fail("Crashed", message);
  }
  const int code = exit.exit_code.value_or(-1);
  return fail("Crashed", "the interpreter exited with code " + std::to_string(code) +
                             " before it replied (did the node call os._exit()?)");
}

}  // namespace pycage
