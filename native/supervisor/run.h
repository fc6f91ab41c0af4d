// One run in flight, seen from the supervisor: its channel, its stdout and
// stderr pipes and its wall timer. It collects RunFacts; the supervisor turns
// them into the outcome once every handle is closed.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "supervisor/outcome.h"
#include "supervisor/run_types.h"
#include "supervisor/unique_fd.h"

namespace pycage {

struct RunCallbacks {
  std::function<void(uint64_t id)> request_kill;  // ask the zygote to SIGKILL the run
  std::function<void()> escalate;                 // the zygote did not react: kill it
  // The outcome is known (a full reply and EOF on every stream): deliver it
  // now, before the process has finished exiting.
  std::function<void(RunOutcome)> on_outcome;
  std::function<void()> on_finished;              // every handle closed; facts are final
};

class Run {
 public:
  Run(uv_loop_t* loop, RunRequest request, uint32_t slot, RunCallbacks callbacks);
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  ~Run();

  // Creates the channel and pipes, starts reading and the wall timer, and
  // returns the child's three fds: [chan, stdout_w, stderr_w].
  Result<std::vector<UniqueFd>> Start();

  void OnExitReport(const protocol::ControlMessage& exit);
  void OnZygoteDied(const std::string& reason);
  void Cancel();
  void Abandon();  // the Sandbox is closing

  uint64_t id() const { return request_.id; }
  uint32_t slot() const { return slot_; }
  // True once no handle is open: after a failed Start, nothing will call on_finished.
  bool fully_closed() const { return open_handles_ == 0; }
  void FailToStart(Status status) { facts_.host_failure = std::move(status); }
  bool delivered() const { return delivered_; }
  RunOutcome TakeOutcome();

 private:
  struct Stream {
    uv_pipe_t pipe{};
    std::string data;
    uint64_t cap = 0;
    uint64_t discarded = 0;
    bool truncated = false;
    bool open = false;
    bool eof = false;
    Run* run = nullptr;
  };

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnOutputRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnChannelRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWriteDone(uv_write_t* request, int status);
  static void OnWallTimer(uv_timer_t* timer);
  static void OnGraceTimer(uv_timer_t* timer);
  static void OnHandleClosed(uv_handle_t* handle);

  void Stop(bool* reason_flag);
  void HandleFrame(std::string frame);
  void MarkExited();
  void MaybeFinish();
  bool ReplyComplete() const;
  void Deliver();
  void CloseAll();
  void CloseHandle(uv_handle_t* handle, bool* open_flag);

  uv_loop_t* loop_;
  RunRequest request_;
  uint32_t slot_;
  RunCallbacks callbacks_;
  RunFacts facts_;
  uint64_t started_ns_ = 0;

  Stream channel_;
  Stream stdout_;
  Stream stderr_;
  protocol::FrameDecoder decoder_;
  uv_write_t write_request_{};
  std::string request_bytes_;
  uv_timer_t wall_timer_{};
  uv_timer_t grace_timer_{};
  bool wall_timer_open_ = false;
  bool grace_timer_open_ = false;
  bool exited_ = false;
  bool code_started_ = false;  // the runner's "started" frame arrived
  bool delivered_ = false;
  bool kill_requested_ = false;
  bool closing_ = false;
  int open_handles_ = 0;
  char read_buffer_[65536];
};

}  // namespace pycage
