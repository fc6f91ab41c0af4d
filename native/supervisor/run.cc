#include "supervisor/run.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "protocol/messages.h"

namespace pycage {
namespace {

// Output beyond the caps is drained (so the child never blocks on a full pipe)
// but not kept; past this many bytes the run is stopped.
uint64_t FloodThreshold(uint64_t cap) { return std::max<uint64_t>(64ULL << 20, cap * 16); }
// How long to wait for EOFs after the exit report, and for an exit report
// after asking the zygote to kill.
constexpr uint64_t kGraceMs = 2000;
// JSON results are at most 64 levels deep (the runner enforces it); allow the
// frame a little slack so the runner's own error says it first.
constexpr size_t kMaxResultDepth = 80;

}  // namespace

Run::Run(uv_loop_t* loop, RunRequest request, uint32_t slot, RunCallbacks callbacks)
    : loop_(loop),
      request_(std::move(request)),
      slot_(slot),
      callbacks_(std::move(callbacks)),
      // One cap for both frames: the result's (checked again per frame in
      // HandleFrame) or the meta's, whichever is larger.
      decoder_(request_.limits.result_bytes + protocol::kMaxReplyMetaBytes) {
  facts_.limits = request_.limits;
  stdout_.cap = request_.limits.stdout_bytes;
  stderr_.cap = request_.limits.stderr_bytes;
  for (Stream* stream : {&channel_, &stdout_, &stderr_}) {
    stream->run = this;
    stream->pipe.data = stream;
  }
}

Run::~Run() = default;

Result<std::vector<UniqueFd>> Run::Start() {
  int channel_pair[2];
  int stdout_pipe[2];
  int stderr_pipe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel_pair) != 0) {
    return Status::FromErrno(ErrorCode::kInternal, "socketpair(AF_UNIX) for a run channel", errno);
  }
  UniqueFd channel_parent(channel_pair[0]);
  UniqueFd channel_child(channel_pair[1]);
  if (pipe2(stdout_pipe, O_CLOEXEC) != 0) return Status::FromErrno(ErrorCode::kInternal, "pipe2 for stdout", errno);
  UniqueFd stdout_read(stdout_pipe[0]);
  UniqueFd stdout_write(stdout_pipe[1]);
  if (pipe2(stderr_pipe, O_CLOEXEC) != 0) return Status::FromErrno(ErrorCode::kInternal, "pipe2 for stderr", errno);
  UniqueFd stderr_read(stderr_pipe[0]);
  UniqueFd stderr_write(stderr_pipe[1]);

  struct Opening {
    Stream* stream;
    UniqueFd* fd;
    uv_read_cb on_read;
  };
  for (const Opening& opening : {Opening{&channel_, &channel_parent, &Run::OnChannelRead},
                                 Opening{&stdout_, &stdout_read, &Run::OnOutputRead},
                                 Opening{&stderr_, &stderr_read, &Run::OnOutputRead}}) {
    uv_pipe_init(loop_, &opening.stream->pipe, 0);
    opening.stream->open = true;
    ++open_handles_;
    const int rc = uv_pipe_open(&opening.stream->pipe, opening.fd->get());
    if (rc != 0) {
      facts_.host_failure = Status::Error(ErrorCode::kInternal, std::string("uv_pipe_open: ") + uv_strerror(rc));
      CloseAll();
      return Status::Error(ErrorCode::kInternal, std::string("uv_pipe_open for a run stream: ") + uv_strerror(rc));
    }
    opening.fd->release();  // the uv handle owns it now
    uv_read_start(reinterpret_cast<uv_stream_t*>(&opening.stream->pipe), &Run::OnAlloc, opening.on_read);
  }

  protocol::AppendFrame(request_bytes_, protocol::BuildRunRequestMeta(request_.code, request_.limits.result_bytes));
  protocol::AppendFrame(request_bytes_, request_.inputs_json);
  request_.code.clear();
  request_.inputs_json.clear();
  uv_buf_t buffer = uv_buf_init(request_bytes_.data(), static_cast<unsigned int>(request_bytes_.size()));
  write_request_.data = this;
  uv_write(&write_request_, reinterpret_cast<uv_stream_t*>(&channel_.pipe), &buffer, 1, &Run::OnWriteDone);

  uv_timer_init(loop_, &wall_timer_);
  wall_timer_.data = this;
  wall_timer_open_ = true;
  ++open_handles_;
  uv_timer_start(&wall_timer_, &Run::OnWallTimer, request_.limits.wall_ms, 0);
  uv_timer_init(loop_, &grace_timer_);
  grace_timer_.data = this;
  grace_timer_open_ = true;
  ++open_handles_;
  started_ns_ = uv_hrtime();

  std::vector<UniqueFd> child_fds;
  child_fds.push_back(std::move(channel_child));
  child_fds.push_back(std::move(stdout_write));
  child_fds.push_back(std::move(stderr_write));
  return child_fds;
}

void Run::OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* stream = static_cast<Stream*>(handle->data);
  *buf = uv_buf_init(stream->run->read_buffer_, sizeof(stream->run->read_buffer_));
}

void Run::OnOutputRead(uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) {
  auto* stream = static_cast<Stream*>(handle->data);
  Run* self = stream->run;
  if (nread < 0) {
    stream->eof = true;
    uv_read_stop(handle);
    self->MaybeFinish();
    return;
  }
  const auto n = static_cast<uint64_t>(nread);
  const uint64_t room = stream->cap - std::min<uint64_t>(stream->cap, stream->data.size());
  const uint64_t kept = std::min(room, n);
  stream->data.append(buf->base, kept);
  if (kept < n) {
    stream->truncated = true;
    stream->discarded += n - kept;
    if (stream->discarded > FloodThreshold(stream->cap) && !self->facts_.output_flooded) {
      self->Stop(&self->facts_.output_flooded);
    }
  }
}

void Run::OnChannelRead(uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) {
  auto* stream = static_cast<Stream*>(handle->data);
  Run* self = stream->run;
  if (nread < 0) {
    if (self->decoder_.HasPartialFrame() && self->facts_.protocol_error.empty() && !self->facts_.result_json) {
      self->facts_.protocol_error = "the channel closed in the middle of a frame";
    }
    stream->eof = true;
    uv_read_stop(handle);
    self->MaybeFinish();
    return;
  }
  if (!self->facts_.protocol_error.empty()) return;  // already judged; drain
  if (!self->decoder_.Feed(std::string_view(buf->base, static_cast<size_t>(nread))).ok()) {
    self->facts_.protocol_error = "a frame was larger than the result limit allows";
    self->facts_.reply.reset();
    return;
  }
  std::string frame;
  while (self->facts_.protocol_error.empty() && self->decoder_.Next(&frame)) self->HandleFrame(std::move(frame));
}

void Run::HandleFrame(std::string frame) {
  if (!facts_.reply) {
    // The runner sends these exact bytes once its setup is done and before
    // the node's code runs, so a setup_error that follows them was written
    // by the node's code: it must not pass for a host fault (a rejection
    // with ERR_ISOLATION_UNAVAILABLE).
    if (frame == protocol::kRunStartedFrame) {
      if (code_started_) facts_.protocol_error = "a second 'started' frame";
      code_started_ = true;
      return;
    }
    auto meta = protocol::ParseRunReplyMeta(frame);
    if (!meta.ok()) {
      facts_.protocol_error = meta.status().message();
      return;
    }
    if (meta->status == protocol::RunReplyMeta::Status::kSetupError && code_started_) {
      facts_.protocol_error = "a setup_error reply after the node's code had started";
      return;
    }
    facts_.reply = std::move(meta).value();
    return;
  }
  if (facts_.reply->status == protocol::RunReplyMeta::Status::kOk && !facts_.result_json) {
    if (frame.size() > request_.limits.result_bytes) {
      facts_.reply.reset();
      facts_.protocol_error = "the result frame exceeds the result limit";
      return;
    }
    const Status valid = protocol::ValidateResultJson(frame, kMaxResultDepth);
    if (!valid.ok()) {
      facts_.reply.reset();
      facts_.protocol_error = valid.message();
      return;
    }
    facts_.result_json = std::move(frame);
    return;
  }
  // Anything after the reply is a forgery attempt by the node's own code.
  facts_.protocol_error = "extra frames after the reply";
  facts_.reply.reset();
  facts_.result_json.reset();
}

void Run::OnWriteDone(uv_write_t* request, int /*status*/) {
  // A failed write means the child died before reading; the exit report says why.
  auto* self = static_cast<Run*>(request->data);
  self->request_bytes_.clear();
  self->request_bytes_.shrink_to_fit();
}

void Run::Stop(bool* reason_flag) {
  if (exited_ || closing_) return;
  const bool first = !facts_.cancelled && !facts_.timed_out && !facts_.output_flooded;
  *reason_flag = true;
  if (!first || delivered_) return;
  kill_requested_ = true;
  callbacks_.request_kill(request_.id);
  // If the zygote does not report the exit in time, it is misbehaving: kill it.
  uv_timer_start(&grace_timer_, &Run::OnGraceTimer, kGraceMs, 0);
}

void Run::OnWallTimer(uv_timer_t* timer) {
  auto* self = static_cast<Run*>(timer->data);
  self->Stop(&self->facts_.timed_out);
}

void Run::OnGraceTimer(uv_timer_t* timer) {
  auto* self = static_cast<Run*>(timer->data);
  if (self->exited_) {
    self->CloseAll();  // exited, but some write end never closed
    return;
  }
  if (!self->kill_requested_) {
    // Replied but still not gone: ask once, then give the zygote one more grace.
    self->kill_requested_ = true;
    self->callbacks_.request_kill(self->request_.id);
    uv_timer_start(&self->grace_timer_, &Run::OnGraceTimer, kGraceMs, 0);
    return;
  }
  self->callbacks_.escalate();  // ends in OnZygoteDied
}

void Run::Cancel() { Stop(&facts_.cancelled); }

void Run::Abandon() {
  facts_.closing = true;
  if (!exited_) {
    exited_ = true;
    facts_.zygote_death = "the Sandbox was closed";
  }
  CloseAll();
}

void Run::OnExitReport(const protocol::ControlMessage& exit) {
  if (exited_) return;
  facts_.exit = exit;
  MarkExited();
}

void Run::OnZygoteDied(const std::string& reason) {
  if (exited_) return;
  facts_.zygote_death = reason;
  MarkExited();
}

void Run::MarkExited() {
  exited_ = true;
  if (!delivered_) facts_.wall_ms = static_cast<double>(uv_hrtime() - started_ns_) / 1e6;
  if (wall_timer_open_) uv_timer_stop(&wall_timer_);
  // The run's pid namespace is gone, so its pipes are closing now; wait briefly.
  if (grace_timer_open_) uv_timer_start(&grace_timer_, &Run::OnGraceTimer, kGraceMs, 0);
  MaybeFinish();
}

bool Run::ReplyComplete() const {
  if (!facts_.protocol_error.empty() || !facts_.reply) return false;
  if (facts_.cancelled || facts_.timed_out || facts_.output_flooded) return false;
  return facts_.reply->status != protocol::RunReplyMeta::Status::kOk || facts_.result_json.has_value();
}

void Run::MaybeFinish() {
  const bool streams_done = channel_.eof && stdout_.eof && stderr_.eof;
  if (!delivered_ && !closing_ && streams_done && !exited_ && ReplyComplete()) Deliver();
  if (exited_ && streams_done) CloseAll();
}

void Run::Deliver() {
  delivered_ = true;
  facts_.wall_ms = static_cast<double>(uv_hrtime() - started_ns_) / 1e6;
  if (wall_timer_open_) uv_timer_stop(&wall_timer_);
  // The exit report should follow at once; if it does not, the grace timer acts.
  if (grace_timer_open_) uv_timer_start(&grace_timer_, &Run::OnGraceTimer, kGraceMs, 0);
  callbacks_.on_outcome(TakeOutcome());
}

void Run::CloseHandle(uv_handle_t* handle, bool* open_flag) {
  if (!*open_flag) return;
  *open_flag = false;
  handle->data = this;
  uv_close(handle, &Run::OnHandleClosed);
}

void Run::CloseAll() {
  if (closing_) return;
  closing_ = true;
  CloseHandle(reinterpret_cast<uv_handle_t*>(&channel_.pipe), &channel_.open);
  CloseHandle(reinterpret_cast<uv_handle_t*>(&stdout_.pipe), &stdout_.open);
  CloseHandle(reinterpret_cast<uv_handle_t*>(&stderr_.pipe), &stderr_.open);
  CloseHandle(reinterpret_cast<uv_handle_t*>(&wall_timer_), &wall_timer_open_);
  CloseHandle(reinterpret_cast<uv_handle_t*>(&grace_timer_), &grace_timer_open_);
}

void Run::OnHandleClosed(uv_handle_t* handle) {
  auto* self = static_cast<Run*>(handle->data);
  if (--self->open_handles_ == 0) self->callbacks_.on_finished();
}

RunOutcome Run::TakeOutcome() {
  RunOutcome outcome = DecideOutcome(facts_);
  outcome.id = request_.id;
  outcome.queue_ms = request_.queue_ms;
  outcome.cold_start = request_.cold_start;
  outcome.stdout_data = std::move(stdout_.data);
  outcome.stderr_data = std::move(stderr_.data);
  outcome.truncated_stdout = stdout_.truncated;
  outcome.truncated_stderr = stderr_.truncated;
  return outcome;
}

}  // namespace pycage
