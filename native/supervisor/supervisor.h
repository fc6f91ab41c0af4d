// The supervisor: one thread, one libuv loop, owning every child, pipe and
// timer of a Sandbox. Other threads only enqueue commands (Submit, Cancel,
// Shutdown); results come back through SupervisorConfig::on_outcome, called
// on the supervisor thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/status.h"
#include "supervisor/run.h"
#include "supervisor/run_types.h"
#include "supervisor/zygote.h"

namespace pycage {

class Supervisor {
 public:
  static Result<std::unique_ptr<Supervisor>> Start(SupervisorConfig config);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();  // shuts down and joins if still running

  // Thread-safe. Fails with kOverloaded when the queue is full and kClosed
  // after Shutdown; otherwise on_outcome is called exactly once for the id.
  Status Submit(RunRequest request);
  // Thread-safe. The run resolves with Cancelled (queued or running).
  void Cancel(uint64_t id);
  // Thread-safe. Kills the session's process (a call of it in flight ends
  // as Crashed); the JS layer closes a session only once its calls settled.
  void CloseSession(std::string session);
  // Thread-safe and idempotent: rejects queued runs with kClosed, kills every
  // child, closes every handle, then calls on_done on the supervisor thread.
  void Shutdown(std::function<void()> on_done);
  // Waits for the thread to end. Call after Shutdown's on_done, off that thread.
  void Join();

 private:
  explicit Supervisor(SupervisorConfig config);

  struct Command {
    enum class Kind { kSubmit, kCancel, kShutdown, kCloseSession } kind;
    RunRequest request;  // kCloseSession: only request.session
    uint64_t id = 0;
    std::function<void()> on_done;
  };

  void ThreadMain();
  static void OnWake(uv_async_t* async);
  static void OnIdleTimer(uv_timer_t* timer);
  static void OnCheck(uv_check_t* check);
  void DrainInbox();
  void Dispatch();
  void EnsureZygote();
  void StartRun(RunRequest request);

  void FinishRun(uint64_t id);
  void RejectQueued(const Status& status);
  void OnZygoteDead(const std::string& reason);
  void OnZygoteClosed(Zygote* zygote);
  void Complete(RunOutcome outcome);
  void BeginShutdown();
  void MaybeEndLoop();

  SupervisorConfig config_;
  uint32_t uid_base_ = 0;
  uint32_t uid_count_ = 0;

  std::thread thread_;
  uv_loop_t loop_{};
  uv_async_t wake_{};
  uv_timer_t idle_timer_{};
  uv_check_t reaper_{};  // frees finished runs and zygotes outside their own callbacks
  int loop_handles_open_ = 0;

  std::mutex inbox_mutex_;
  std::vector<Command> inbox_;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> accepting_{true};
  std::atomic<bool> joined_{false};

  // Supervisor-thread state only.
  std::deque<RunRequest> pending_;
  std::map<uint64_t, std::unique_ptr<Run>> running_;
  std::set<uint32_t> free_slots_;
  // Sessions the current zygote may hold: their processes keep it from
  // retiring while idle.
  std::set<std::string> open_sessions_;
  std::unique_ptr<Zygote> zygote_;
  std::vector<std::unique_ptr<Zygote>> retiring_;
  std::vector<std::unique_ptr<Run>> finished_runs_;
  std::vector<std::unique_ptr<Zygote>> closed_zygotes_;
  bool zygote_was_used_ = false;
  uint64_t zygote_ready_ns_ = 0;  // when the current warm interpreter became ready (uv_hrtime)
  int startup_failures_ = 0;
  bool shutting_down_ = false;
  std::vector<std::function<void()>> shutdown_waiters_;
};

}  // namespace pycage
