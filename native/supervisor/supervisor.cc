#include "supervisor/supervisor.h"

#include <pthread.h>
#include <unistd.h>

#include <csignal>

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
  return (1U << 30) + static_cast<uint32_t>(mix % 16384) * 65536U;
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

  EnsureZygote();
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
        if (open_sessions_.erase(command.request.session) != 0 && zygote_ && !zygote_->dead()) {
          zygote_->SendCloseSession(command.request.session);
        }
        break;
    }
  }
  Dispatch();
}

void Supervisor::EnsureZygote() {
  if (shutting_down_ || startup_failures_ >= kMaxStartupFailures) return;
  if (zygote_ && !zygote_->dead()) return;

  Result<ScratchDir> scratch = MakeZygoteScratch(config_, uid_base_, uid_count_);
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
      ZygoteSpec{config_.helper_path, BuildZygoteArgs(config_, uid_base_, uid_count_, scratch_path),
                 std::move(scratch).value()},
      ZygoteCallbacks{});
  Zygote* raw = zygote.get();
  ZygoteCallbacks callbacks;
  callbacks.on_ready = [this] {
    startup_failures_ = 0;
    zygote_was_used_ = true;
    zygote_ready_ns_ = uv_hrtime();
    Dispatch();
  };
  callbacks.on_exit_report = [this](const protocol::ControlMessage& exit) {
    if (auto it = running_.find(exit.id); it != running_.end()) it->second->OnExitReport(exit);
  };
  callbacks.on_dead = [this, raw](const std::string& reason) {
    if (zygote_.get() == raw) OnZygoteDead(reason);
  };
  callbacks.on_log = [this](const std::string& line) {
    if (config_.on_log) config_.on_log(line);
  };
  callbacks.on_closed = [this, raw] { OnZygoteClosed(raw); };
  raw->set_callbacks(std::move(callbacks));
  zygote_ = std::move(zygote);
  zygote_was_used_ = false;
  const Status started = raw->Start();
  if (!started.ok()) {
    // Start() already closes its handles; on_closed will free it.
    retiring_.push_back(std::move(zygote_));
    startup_failures_ = kMaxStartupFailures;
    RejectQueued(started);
  }
}

void Supervisor::Dispatch() {
  if (shutting_down_) return;
  if (pending_.empty()) {
    if (running_.empty() && open_sessions_.empty() && zygote_ &&
        !uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_timer_))) {
      uv_timer_start(&idle_timer_, &Supervisor::OnIdleTimer, config_.zygote_idle_ms, 0);
    }
    return;
  }
  uv_timer_stop(&idle_timer_);
  EnsureZygote();
  while (zygote_ && zygote_->ready() && !free_slots_.empty() && !pending_.empty()) {
    RunRequest request = std::move(pending_.front());
    pending_.pop_front();
    --queued_;
    StartRun(std::move(request));
  }
}

void Supervisor::StartRun(RunRequest request) {
  const uint32_t slot = *free_slots_.begin();
  free_slots_.erase(free_slots_.begin());
  request.queue_ms = static_cast<double>(uv_hrtime() - request.submitted_ns) / 1e6;
  request.cold_start = zygote_ready_ns_ > request.submitted_ns;
  const uint64_t id = request.id;
  const RunLimits limits = request.limits;
  const std::string session = request.session;
  if (!session.empty()) open_sessions_.insert(session);

  RunCallbacks callbacks;
  callbacks.request_kill = [this](uint64_t run_id) {
    if (zygote_ && !zygote_->dead()) zygote_->SendKill(run_id);
  };
  callbacks.escalate = [this] {
    if (zygote_) zygote_->Kill();
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
  zygote_->SendRun(id, own_uid ? slot : 0, child_limits, std::move(child_fds).value(), session);
}

void Supervisor::FinishRun(uint64_t id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  std::unique_ptr<Run> run = std::move(it->second);
  running_.erase(it);
  free_slots_.insert(run->slot());
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

void Supervisor::OnZygoteDead(const std::string& reason) {
  std::unique_ptr<Zygote> dead = std::move(zygote_);
  const bool was_used = zygote_was_used_;
  open_sessions_.clear();  // they died with it; their next calls start afresh
  for (auto& [id, run] : running_) run->OnZygoteDied(reason);
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
  // Keep a warm interpreter ready if it had work; otherwise wait for the next run.
  if (!pending_.empty() || !running_.empty() || was_used) EnsureZygote();
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
  if (!self->running_.empty() || !self->pending_.empty() || !self->open_sessions_.empty() || !self->zygote_) return;
  std::unique_ptr<Zygote> idle = std::move(self->zygote_);
  idle->Close();
  self->retiring_.push_back(std::move(idle));
}

void Supervisor::Complete(RunOutcome outcome) {
  if (config_.on_outcome) config_.on_outcome(std::move(outcome));
}

void Supervisor::BeginShutdown() {
  if (!shutting_down_) {
    shutting_down_ = true;
    RejectQueued(Status::Error(ErrorCode::kClosed, "the Sandbox was closed before the run started"));
    uv_timer_stop(&idle_timer_);
    if (zygote_) {
      std::unique_ptr<Zygote> zygote = std::move(zygote_);
      zygote->Close();
      retiring_.push_back(std::move(zygote));
    }
    std::vector<Run*> runs;
    for (auto& [id, run] : running_) runs.push_back(run.get());
    for (Run* run : runs) run->Abandon();
  }
  MaybeEndLoop();
}

void Supervisor::MaybeEndLoop() {
  if (!running_.empty() || zygote_ || !retiring_.empty() || loop_handles_open_ == 0) return;
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&wake_), reinterpret_cast<uv_handle_t*>(&idle_timer_),
                              reinterpret_cast<uv_handle_t*>(&reaper_)}) {
    if (!uv_is_closing(handle)) {
      uv_close(handle, [](uv_handle_t* closed) { --static_cast<Supervisor*>(closed->data)->loop_handles_open_; });
    }
  }
}

}  // namespace pycage
