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
  // One warm interpreter and what it serves. A pool has one lane, except in
  // the reduced tier where the host may switch uid: there each concurrent run
  // gets a lane (a zygote under a uid of its own), started on demand, because
  // without a user namespace a zygote cannot give its runs other uids.
  struct Lane {
    std::unique_ptr<Zygote> zygote;
    size_t runs = 0;  // in flight
    bool was_used = false;
    uint64_t ready_ns = 0;  // when its warm interpreter became ready (uv_hrtime)
  };

  void DrainInbox();
  void Dispatch();
  bool AnyZygote() const;
  // The lane a request may start in now, or -1.
  int PickLane(const RunRequest& request) const;
  // Starts one more lane when queued runs wait and every live lane is busy.
  void GrowLanes();
  void EnsureZygote(size_t lane);
  void StartRun(RunRequest request, size_t lane);
  void RetireLane(size_t lane);

  void FinishRun(uint64_t id);
  void RejectQueued(const Status& status);
  void OnZygoteDead(size_t lane, const std::string& reason);
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
  std::map<uint64_t, size_t> run_lanes_;
  std::set<uint32_t> free_slots_;
  std::vector<Lane> lanes_;  // sized on the supervisor thread, before the first zygote
  size_t runs_per_lane_ = 0;
  // Sessions a live zygote may hold, by lane: their processes keep it from
  // retiring while idle, and their calls go to it.
  std::map<std::string, size_t> open_sessions_;
  std::vector<std::unique_ptr<Zygote>> retiring_;
  std::vector<std::unique_ptr<Run>> finished_runs_;
  std::vector<std::unique_ptr<Zygote>> closed_zygotes_;
  int startup_failures_ = 0;
  bool shutting_down_ = false;
  std::vector<std::function<void()>> shutdown_waiters_;
};

}  // namespace pycage
