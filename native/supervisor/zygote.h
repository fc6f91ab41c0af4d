// One warm interpreter: the pycage-jail helper process, the zygote inside it,
// and the control socket between the supervisor and the zygote.
//
// Lives on the supervisor thread. Owns its libuv handles; after Close() it
// reports through on_closed once the last handle is closed, and only then may
// the owner delete it.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "supervisor/run_types.h"
#include "supervisor/helper_process.h"
#include "supervisor/scratch_dir.h"
#include "supervisor/unique_fd.h"

namespace pycage {

struct ZygoteSpec {
  std::string helper_path;
  std::vector<std::string> helper_args;  // everything after argv[0]
  ScratchDir scratch;                    // reduced tier: removed with the Zygote
};

struct ZygoteCallbacks {
  std::function<void()> on_ready;
  std::function<void(const protocol::ControlMessage&)> on_exit_report;
  // The process exited or its channel broke. Runs still in flight get no exit
  // report after this.
  std::function<void(const std::string& reason)> on_dead;
  std::function<void(const std::string& line)> on_log;
  std::function<void()> on_closed;
};

// Pre-forked spares each zygote keeps ready (each holds a uid slot). Two, so
// back-to-back runs do not wait for the next spare's setup.
inline constexpr uint32_t kZygoteSpares = 2;

// How many zygotes (lanes) a pool of `config` may run at once. One, except
// in the reduced tier where the host may switch uid: there a zygote cannot
// give its runs other uids (no user namespace, and it holds no CAP_SETUID
// while it imports bundle code), so each concurrent run gets a zygote of its
// own, under a uid of its own (`concurrency` lanes, started on demand).
uint32_t ZygoteLanes(const SupervisorConfig& config, uint32_t uid_base, uint32_t uid_count);

// Builds the helper's argv (after argv[0]) for the zygote of `lane`;
// `scratch_dir` is the reduced tier's writable tree (ignored by others).
std::vector<std::string> BuildZygoteArgs(const SupervisorConfig& config, uint32_t uid_base, uint32_t uid_count,
                                         const std::string& scratch_dir = {}, uint32_t lane = 0);

// The reduced tier's scratch directory for the zygote of `lane` (an empty
// one for other tiers), owned by that zygote's uid when the host is root.
Result<ScratchDir> MakeZygoteScratch(const SupervisorConfig& config, uint32_t uid_base, uint32_t uid_count,
                                     uint32_t lane = 0);

class Zygote {
 public:
  Zygote(uv_loop_t* loop, ZygoteSpec spec, ZygoteCallbacks callbacks);
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;
  ~Zygote();

  void set_callbacks(ZygoteCallbacks callbacks) { callbacks_ = std::move(callbacks); }
  Status Start();
  bool ready() const { return state_ == State::kReady; }
  bool dead() const { return state_ == State::kDead; }

  // Queues a run command; the three fds ride on it and are closed here once sent.
  // A non-empty `session` makes it a call of that session.
  void SendRun(uint64_t id, uint32_t slot, const protocol::ChildLimits& limits, std::vector<UniqueFd> fds,
               const std::string& session = {});
  // Kills the session's process, if the zygote has one by that name.
  void SendCloseSession(const std::string& session);
  void SendKill(uint64_t id);
  // SIGKILLs the helper; the zygote dies by PDEATHSIG and its jail with it.
  void Kill();
  // Kills if needed and closes every handle; on_closed follows.
  void Close();
  const std::vector<std::string>& recent_log() const { return recent_log_; }

 private:
  enum class State { kStarting, kReady, kDead };
  struct Outgoing {
    std::string bytes;
    std::vector<UniqueFd> fds;
    size_t offset = 0;
  };

  static void OnHelperExit(uv_poll_t* poll, int status, int events);
  static void OnStderrAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnStderrRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnControlEvent(uv_poll_t* poll, int status, int events);
  static void OnHandleClosed(uv_handle_t* handle);

  void Enqueue(const std::string& payload, std::vector<UniqueFd> fds);
  void Flush();
  void ReadControl();
  void UpdatePollEvents();
  void MarkDead(const std::string& reason);
  void AddLogLine(const std::string& line);
  void AppendStderr(const char* data, size_t size);
  void DrainStderr();

  uv_loop_t* loop_;
  ZygoteSpec spec_;
  ZygoteCallbacks callbacks_;
  State state_ = State::kStarting;

  HelperProcess helper_;
  uv_poll_t exit_poll_{};  // on the helper's pidfd
  uv_pipe_t stderr_pipe_{};
  uv_poll_t control_poll_{};
  bool process_alive_ = false;
  bool stderr_open_ = false;
  bool poll_open_ = false;
  bool closing_ = false;
  int open_handles_ = 0;

  UniqueFd control_;
  protocol::FrameDecoder decoder_{1 << 20};
  std::deque<Outgoing> outbox_;
  std::string stderr_partial_;
  std::vector<std::string> recent_log_;
  char stderr_buffer_[4096];
};

}  // namespace pycage
