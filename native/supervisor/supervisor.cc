#include "supervisor/supervisor.h"

#include <pthread.h>
#include <unistd.h>

#include <csignal>

#include "common/host_identity.h"

namespace pycage {
namespace {

// A zygote that never becomes ready this many times in a row means the host
// cannot jail: queued runs are rejected instead of retrying forever.
constexpr int kMaxStartupFailures = 3;

uint32_t PickUidBase(const void* instance) {
  // 2^30 upwards is far from any uid a distribution hands out. Each Sandbox
  // takes a block of 65,536 ids picked from its pid and address, so two
  // Sandboxes (or two Node processes) rarely share host uids.
  const auto mix = static_cast<uint64_t>(getpid()) * 2654435761ULL ^ (reinterpret_cast<uintptr_t>(instance) >> 4);
  return static_cast<uint32_t>(kPoolUidFirst + (mix % (kPoolUidSpan / 65536)) * 65536);
}

}  // namespace

Result<std::unique_ptr<Supervisor>> Supervisor::Start(SupervisorConfig config) {
  if (config.concurrency == 0 || config.concurrency > 64) {
    return Status::Error(ErrorCode::kInvalidArgument, "concurrency must be between 1 and 64");
  }
  std::unique_ptr<Supervisor> supervisor(new Supervisor(std::move(config)));
  Supervisor* self = supervisor.get();
  if (const int rc = uv_loop_init(&self->loop_); rc != 0) {
    return Status::Error(ErrorCode::kInternal, std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  uv_async_init(&self->loop_, &self->wake_, &Supervisor::OnWake);
  uv_timer_init(&self->loop_, &self->idle_timer_);
  uv_check_init(&self->loop_, &self->reaper_);
  uv_check_start(&self->reaper_, &Supervisor::OnCheck);
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&self->wake_), reinterpret_cast<uv_handle_t*>(&self->idle_timer_),
                              reinterpret_cast<uv_handle_t*>(&self->reaper_)}) {
    handle->data = self;
    ++self->loop_handles_open_;
  }
  self->thread_ = std::thread([self] { self->ThreadMain(); });
  return supervisor;
}

Supervisor::Supervisor(SupervisorConfig config) : config_(std::move(config)) {
  uid_base_ = config_.uid_base != 0 ? config_.uid_base : PickUidBase(this);
  // uid 0 is the jail's init, the last uid the zygote's (jail_plan.h,
  // UidLayout); between them one per run in flight, one per pre-forked
  // spare, and one per live session for as long as it lives.
  uid_count_ = static_cast<uint32_t>(config_.concurrency + config_.max_sessions) + 2 + kZygoteSpares;
  for (uint32_t slot = 1; slot <= config_.concurrency; ++slot) free_slots_.insert(slot);
}

Supervisor::~Supervisor() {
  if (thread_.joinable()) {
    Shutdown(nullptr);
    Join();
  }
}

Status Supervisor::Submit(RunRequest request) {
  if (!accepting_.load()) return Status::Error(ErrorCode::kClosed, "the Sandbox is closed; create a new one");
  if (queued_.load() >= config_.max_queue) {
    return Status::Error(ErrorCode::kOverloaded, "the run queue is full (" + std::to_string(config_.max_queue) +
                                                     " runs waiting); retry later or raise maxQueue");
  }
  ++queued_;
  request.submitted_ns = uv_hrtime();
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(Command{Command::Kind::kSubmit, std::move(request), 0, nullptr});
  }
  uv_async_send(&wake_);
  return Status::Ok();
}

void Supervisor::Cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(Command{Command::Kind::kCancel, {}, id, nullptr});
  }
  uv_async_send(&wake_);
}

void Supervisor::CloseSession(std::string session) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    Command command{Command::Kind::kCloseSession, {}, 0, nullptr};
    command.request.session = std::move(session);
    inbox_.push_back(std::move(command));
  }
  uv_async_send(&wake_);
}

void Supervisor::Shutdown(std::function<void()> on_done) {
  accepting_.store(false);
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(Command{Command::Kind::kShutdown, {}, 0, std::move(on_done)});
  }
  uv_async_send(&wake_);
}

void Supervisor::Join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Supervisor::ThreadMain() {
  // Writes to a pipe whose reader died must fail with EPIPE, not kill the host.
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);

  lanes_.resize(ZygoteLanes(config_, uid_base_, uid_count_));
  runs_per_lane_ = lanes_.size() > 1 ? 1 : config_.concurrency;
  EnsureZygote(0);
  uv_run(&loop_, UV_RUN_DEFAULT);
  finished_runs_.clear();
  closed_zygotes_.clear();
  uv_loop_close(&loop_);
  for (auto& waiter : shutdown_waiters_) {
    if (waiter) waiter();
  }
}

void Supervisor::OnWake(uv_async_t* async) { static_cast<Supervisor*>(async->data)->DrainInbox(); }

void Supervisor::OnCheck(uv_check_t* check) {
  auto* self = static_cast<Supervisor*>(check->data);
  self->finished_runs_.clear();
  self->closed_zygotes_.clear();
}

void Supervisor::DrainInbox() {
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    commands.swap(inbox_);
  }
  for (Command& command : commands) {
    switch (command.kind) {
      case Command::Kind::kSubmit:
        if (shutting_down_) {
          --queued_;
          RunOutcome outcome;
          outcome.id = command.request.id;
          outcome.rejection = Status::Error(ErrorCode::kClosed, "the Sandbox is closed; create a new one");
          Complete(std::move(outcome));
        } else {
          if (startup_failures_ >= kMaxStartupFailures) startup_failures_ = 0;  // new work: try the jail again
          pending_.push_back(std::move(command.request));
        }
        break;
      case Command::Kind::kCancel: {
        if (auto it = running_.find(command.id); it != running_.end()) {
          it->second->Cancel();
          break;
        }
        for (auto it = pending_.begin(); it != pending_.end(); ++it) {
          if (it->id != command.id) continue;
          RunOutcome outcome;
          outcome.id = it->id;
          outcome.error = protocol::RunError{"Cancelled", "the run was cancelled by its AbortSignal before it started",
                                             "Cancelled: the run was cancelled by its AbortSignal before it started",
                                             std::nullopt};
          pending_.erase(it);
          --queued_;
          Complete(std::move(outcome));
          break;
        }
        break;
      }
      case Command::Kind::kShutdown:
        shutdown_waiters_.push_back(std::move(command.on_done));
        BeginShutdown();
        break;
      case Command::Kind::kCloseSession:
        if (auto it = open_sessions_.find(command.request.session); it != open_sessions_.end()) {
          Zygote* zygote = lanes_[it->second].zygote.get();
          open_sessions_.erase(it);
          if (zygote && !zygote->dead()) zygote->SendCloseSession(command.request.session);
        }
        break;
    }
  }
  Dispatch();
}

void Supervisor::EnsureZygote(size_t lane) {
  if (shutting_down_ || startup_failures_ >= kMaxStartupFailures) return;
  if (lanes_[lane].zygote && !lanes_[lane].zygote->dead()) return;

  Result<ScratchDir> scratch = MakeZygoteScratch(config_, uid_base_, uid_count_, lane);
  if (!scratch.ok()) {
    // Nothing to start: this pool's jail cannot be built as configured.
    if (config_.on_log) config_.on_log(scratch.status().message());
    startup_failures_ = kMaxStartupFailures;
    RejectQueued(Status::Error(ErrorCode::kIsolationUnavailable,
                               "the jail could not be set up on this host (" + scratch.status().message() + ")"));
    return;
  }
  std::string scratch_path = scratch->path();
  auto zygote = std::make_unique<Zygote>(
      &loop_,
      ZygoteSpec{config_.helper_path, BuildZygoteArgs(config_, uid_base_, uid_count_, scratch_path, lane),
                 std::move(scratch).value()},
      ZygoteCallbacks{});
  Zygote* raw = zygote.get();
  ZygoteCallbacks callbacks;
  callbacks.on_ready = [this, lane] {
    startup_failures_ = 0;
    lanes_[lane].was_used = true;
    lanes_[lane].ready_ns = uv_hrtime();
    Dispatch();
  };
  callbacks.on_exit_report = [this](const protocol::ControlMessage& exit) {
    if (auto it = running_.find(exit.id); it != running_.end()) it->second->OnExitReport(exit);
  };
  callbacks.on_dead = [this, raw, lane](const std::string& reason) {
    if (lanes_[lane].zygote.get() == raw) OnZygoteDead(lane, reason);
  };
  callbacks.on_log = [this](const std::string& line) {
    if (config_.on_log) config_.on_log(line);
  };
  callbacks.on_closed = [this, raw] { OnZygoteClosed(raw); };
  raw->set_callbacks(std::move(callbacks));
  lanes_[lane].zygote = std::move(zygote);
  lanes_[lane].was_used = false;
  const Status started = raw->Start();
  if (!started.ok()) {
    // Start() already closes its handles; on_closed will free it.
    retiring_.push_back(std::move(lanes_[lane].zygote));
    startup_failures_ = kMaxStartupFailures;
    RejectQueued(started);
  }
}

bool Supervisor::AnyZygote() const {
  for (const Lane& lane : lanes_) {
    if (lane.zygote) return true;
  }
  return false;
}

int Supervisor::PickLane(const RunRequest& request) const {
  const auto has_room = [this](const Lane& lane) {
    return lane.zygote && lane.zygote->ready() && lane.runs < runs_per_lane_;
  };
  // A session's calls go to the zygote that holds its process.
  if (auto it = open_sessions_.find(request.session); !request.session.empty() && it != open_sessions_.end()) {
    return has_room(lanes_[it->second]) ? static_cast<int>(it->second) : -1;
  }
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (has_room(lanes_[lane])) return static_cast<int>(lane);
  }
  return -1;
}

void Supervisor::GrowLanes() {
  if (lanes_.size() < 2 || free_slots_.empty() || startup_failures_ > 0) return;
  bool waiting = false;  // a queued run that any lane could take
  for (const RunRequest& request : pending_) {
    if (request.session.empty() || open_sessions_.count(request.session) == 0) {
      waiting = true;
      break;
    }
  }
  if (!waiting) return;
  for (const Lane& lane : lanes_) {
    if (lane.zygote && !lane.zygote->ready()) return;  // one start at a time
  }
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (!lanes_[lane].zygote) {
      EnsureZygote(lane);
      return;
    }
  }
}

void Supervisor::Dispatch() {
  if (shutting_down_) return;
  if (pending_.empty()) {
    if (running_.empty() && open_sessions_.empty() && AnyZygote() &&
        !uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_timer_))) {
      uv_timer_start(&idle_timer_, &Supervisor::OnIdleTimer, config_.zygote_idle_ms, 0);
    }
    return;
  }
  uv_timer_stop(&idle_timer_);
  EnsureZygote(0);
  // Oldest first, except a session call whose zygote is busy: it waits and
  // the runs behind it go on. Rescanned after each start, which may finish
  // a run (and re-enter here) at once.
  while (!pending_.empty() && !free_slots_.empty()) {
    int lane = -1;
    auto it = pending_.begin();
    for (; it != pending_.end(); ++it) {
      if ((lane = PickLane(*it)) >= 0) break;
    }
    if (lane < 0) break;
    RunRequest request = std::move(*it);
    pending_.erase(it);
    --queued_;
    StartRun(std::move(request), static_cast<size_t>(lane));
  }
  GrowLanes();
}

void Supervisor::StartRun(RunRequest request, size_t lane) {
  const uint32_t slot = *free_slots_.begin();
  free_slots_.erase(free_slots_.begin());
  request.queue_ms = static_cast<double>(uv_hrtime() - request.submitted_ns) / 1e6;
  request.cold_start = lanes_[lane].ready_ns > request.submitted_ns;
  const uint64_t id = request.id;
  const RunLimits limits = request.limits;
  const std::string session = request.session;
  if (!session.empty()) open_sessions_[session] = lane;
  ++lanes_[lane].runs;
  run_lanes_[id] = lane;

  RunCallbacks callbacks;
  callbacks.request_kill = [this, lane](uint64_t run_id) {
    Zygote* zygote = lanes_[lane].zygote.get();
    if (zygote && !zygote->dead()) zygote->SendKill(run_id);
  };
  callbacks.escalate = [this, lane] {
    if (lanes_[lane].zygote) lanes_[lane].zygote->Kill();
  };
  callbacks.on_outcome = [this](RunOutcome outcome) { Complete(std::move(outcome)); };
  callbacks.on_finished = [this, id] { FinishRun(id); };
  auto run = std::make_unique<Run>(&loop_, std::move(request), slot, std::move(callbacks));
  Run* raw = run.get();
  running_.emplace(id, std::move(run));

  auto child_fds = raw->Start();
  if (!child_fds.ok()) {
    raw->FailToStart(child_fds.status());
    if (raw->fully_closed()) FinishRun(id);
    return;
  }
  protocol::ChildLimits child_limits;
#define PYCAGE_LIMIT_COPY(member, key, fallback) child_limits.member = limits.member;
  PYCAGE_CHILD_LIMITS(PYCAGE_LIMIT_COPY)
#undef PYCAGE_LIMIT_COPY
  // Each run gets its own host uid when the map has room, so RLIMIT_NPROC
  // counts that run alone; with a single-uid map every run is uid 0 of the jail.
  const bool own_uid = ProfileOf(config_.tier).per_run_uid && geteuid() == 0;
  lanes_[lane].zygote->SendRun(id, own_uid ? slot : 0, child_limits, std::move(child_fds).value(), session);
}

void Supervisor::RetireLane(size_t lane) {
  if (!lanes_[lane].zygote) return;
  std::unique_ptr<Zygote> zygote = std::move(lanes_[lane].zygote);
  zygote->Close();
  retiring_.push_back(std::move(zygote));
}

void Supervisor::FinishRun(uint64_t id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  std::unique_ptr<Run> run = std::move(it->second);
  running_.erase(it);
  free_slots_.insert(run->slot());
  if (auto lane = run_lanes_.find(id); lane != run_lanes_.end()) {
    --lanes_[lane->second].runs;
    run_lanes_.erase(lane);
  }
  if (!run->delivered()) Complete(run->TakeOutcome());
  finished_runs_.push_back(std::move(run));  // freed in the check phase, outside its own callback
  if (shutting_down_) {
    MaybeEndLoop();
  } else {
    Dispatch();
  }
}

void Supervisor::RejectQueued(const Status& status) {
  while (!pending_.empty()) {
    RunOutcome outcome;
    outcome.id = pending_.front().id;
    outcome.rejection = status;
    pending_.pop_front();
    --queued_;
    Complete(std::move(outcome));
  }
}

void Supervisor::OnZygoteDead(size_t lane, const std::string& reason) {
  std::unique_ptr<Zygote> dead = std::move(lanes_[lane].zygote);
  const bool was_used = lanes_[lane].was_used;
  // Its sessions died with it; their next calls start afresh.
  for (auto it = open_sessions_.begin(); it != open_sessions_.end();) {
    it = it->second == lane ? open_sessions_.erase(it) : std::next(it);
  }
  for (auto& [id, run] : running_) {
    if (auto it = run_lanes_.find(id); it != run_lanes_.end() && it->second == lane) run->OnZygoteDied(reason);
  }
  dead->Close();
  retiring_.push_back(std::move(dead));
  if (shutting_down_) return;
  if (was_used && config_.on_restart) config_.on_restart(reason);
  if (!was_used) {
    ++startup_failures_;
    if (startup_failures_ >= kMaxStartupFailures) {
      // A "pycage-jail: <stage>: …" line is a jail setup step that failed
      // (PROTOCOL.md): say so, rather than blame the interpreter.
      const bool jail_step = reason.find("pycage-jail: ") != std::string::npos;
      RejectQueued(Status::Error(
          ErrorCode::kIsolationUnavailable,
          jail_step ? "the jail could not be set up on this host (" + reason +
                          "); the host changed since this Sandbox proved it: see capabilities() for what it allows"
                    : "the jail could not start its Python interpreter (" + reason +
                          "); check that the interpreter runs with `python3 -I -S -c pass`, and see "
                          "capabilities() for what this host allows"));
      return;
    }
  }
  // Keep the first warm interpreter ready if it had work; otherwise wait for
  // the next run. Other lanes start again only when runs wait for them.
  if (lane == 0 && (!pending_.empty() || !running_.empty() || was_used)) EnsureZygote(0);
  if (lane != 0 && !pending_.empty()) Dispatch();
}

void Supervisor::OnZygoteClosed(Zygote* zygote) {
  for (auto it = retiring_.begin(); it != retiring_.end(); ++it) {
    if (it->get() != zygote) continue;
    closed_zygotes_.push_back(std::move(*it));
    retiring_.erase(it);
    break;
  }
  if (shutting_down_) MaybeEndLoop();
}

void Supervisor::OnIdleTimer(uv_timer_t* timer) {
  auto* self = static_cast<Supervisor*>(timer->data);
  if (!self->running_.empty() || !self->pending_.empty() || !self->open_sessions_.empty()) return;
  for (size_t lane = 0; lane < self->lanes_.size(); ++lane) self->RetireLane(lane);
}

void Supervisor::Complete(RunOutcome outcome) {
  if (config_.on_outcome) config_.on_outcome(std::move(outcome));
}

void Supervisor::BeginShutdown() {
  if (!shutting_down_) {
    shutting_down_ = true;
    RejectQueued(Status::Error(ErrorCode::kClosed, "the Sandbox was closed before the run started"));
    uv_timer_stop(&idle_timer_);
    for (size_t lane = 0; lane < lanes_.size(); ++lane) RetireLane(lane);
    std::vector<Run*> runs;
    for (auto& [id, run] : running_) runs.push_back(run.get());
    for (Run* run : runs) run->Abandon();
  }
  MaybeEndLoop();
}

void Supervisor::MaybeEndLoop() {
  if (!running_.empty() || AnyZygote() || !retiring_.empty() || loop_handles_open_ == 0) return;
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&wake_), reinterpret_cast<uv_handle_t*>(&idle_timer_),
                              reinterpret_cast<uv_handle_t*>(&reaper_)}) {
    if (!uv_is_closing(handle)) {
      uv_close(handle, [](uv_handle_t* closed) { --static_cast<Supervisor*>(closed->data)->loop_handles_open_; });
    }
  }
}

}  // namespace pycage
