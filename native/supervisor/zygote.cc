#include "supervisor/zygote.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/host_identity.h"

namespace pycage {
namespace {

constexpr size_t kRecentLogLines = 20;
constexpr const char* kJailRunnerDir = "/pycage/runner";

bool IsUnder(const std::string& path, const char* root) {
  const size_t n = std::strlen(root);
  return path.compare(0, n, root) == 0 && (path.size() == n || path[n] == '/');
}

// The first directory on the way to `path` that `uid` may not search
// (owner, group with gid = uid, or other), or "" when it reaches it. A
// root-owned 0700 ancestor (/root) stops it.
std::string BlockingDirectory(const std::string& path, uint32_t uid) {
  size_t at = 0;
  while (at != std::string::npos) {
    const size_t next = path.find('/', at + 1);
    std::string prefix = path.substr(0, next == std::string::npos ? path.size() : next);
    at = next;
    if (prefix.empty()) prefix = "/";
    struct stat st {};
    if (stat(prefix.c_str(), &st) != 0) return prefix;
    if (!S_ISDIR(st.st_mode)) continue;
    const bool search = (st.st_mode & S_IXOTH) != 0 || (st.st_uid == uid && (st.st_mode & S_IXUSR) != 0) ||
                        (st.st_gid == uid && (st.st_mode & S_IXGRP) != 0);
    if (!search) return prefix;
  }
  return "";
}

// The paths a reduced-tier jail of `config` reads from.
std::vector<std::string> ReducedReadPaths(const SupervisorConfig& config) {
  std::vector<std::string> paths = config.python_prefixes;
  paths.push_back(config.runner_dir);
  paths.push_back(config.helper_path.substr(0, config.helper_path.rfind('/')));
  for (const std::string& bind : config.extra_ro_binds) paths.push_back(bind.substr(0, bind.find(':')));
  // Where its scratch tree will be made (scratch_dir.h).
  const char* tmp = std::getenv("TMPDIR");
  paths.emplace_back(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp");
  return paths;
}

// The reduced tier's jail uid. As root of the initial user namespace it
// must take a uid of its own: uid 0 there owns the host's files and is
// exempt from RLIMIT_NPROC. Elsewhere (a non-root host, or root of a user
// namespace that maps no other uid) it keeps ours.
struct ReducedIdentity {
  bool own_uid = false;  // setresuid to the pool's uid in the helper's plan
  std::string refusal;   // why the tier cannot run here as configured
};

ReducedIdentity DecideReducedIdentity(const SupervisorConfig& config, uint32_t uid) {
  if (geteuid() != 0) return {};
  const std::string id = std::to_string(uid);
  if (!MapsUids(uid, 1)) return {};  // a user namespace's root: RLIMIT_NPROC holds for it
  const bool initial = MapsUids(0, 4294967295ULL);
  std::string refusal;
  if (!HoldsSetIdCapabilities()) {
    refusal = "setresuid(" + id + "): Operation not permitted (errno 1); the reduced tier runs as root only with "
              "CAP_SETUID and CAP_SETGID, to give its jail a uid of its own: keep them (Docker's default set has "
              "them) or run this process as a non-root user";
  }
  for (const std::string& path : ReducedReadPaths(config)) {
    if (!refusal.empty()) break;
    const std::string blocked = BlockingDirectory(path, uid);
    if (blocked.empty()) continue;
    refusal = "access(" + path + "): Permission denied (errno 13); the reduced tier's jail runs as uid ";
    refusal.append(id).append(", which cannot search ").append(blocked).append(
        ": keep the interpreter, pycage and its dataDir below directories every user may search (for example "
        "dataDir /var/cache/pycage, not below /root), or run this process as a non-root user");
  }
  if (refusal.empty()) return {true, ""};
  // Only root of the initial namespace must not run the jail as itself.
  return initial ? ReducedIdentity{false, refusal} : ReducedIdentity{};
}

// Processes of this uid now, from /proc (the reduced tier's runs share it,
// so their process limit starts above what the uid already runs).
uint64_t ProcessesOfOurUid() {
  uint64_t n = 0;
  const uid_t me = geteuid();
  if (DIR* proc = opendir("/proc")) {
    while (dirent* entry = readdir(proc)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      struct stat st {};
      if (fstatat(dirfd(proc), entry->d_name, &st, 0) == 0 && st.st_uid == me) ++n;
    }
    closedir(proc);
  }
  return n;
}

// The reduced tier's zygote uids as host root: the last of the range for the
// first lane, counting down for the others (at most `concurrency` of them, so
// they stay above the range's first uids).
uint32_t ReducedZygoteUid(uint32_t uid_base, uint32_t uid_count, uint32_t lane) {
  return uid_base + uid_count - 1 - lane;
}

}  // namespace

uint32_t ZygoteLanes(const SupervisorConfig& config, uint32_t uid_base, uint32_t uid_count) {
  if (!ProfileOf(config.tier).landlock_fs) return 1;
  if (!DecideReducedIdentity(config, ReducedZygoteUid(uid_base, uid_count, 0)).own_uid) return 1;
  return static_cast<uint32_t>(std::min<size_t>(config.concurrency, uid_count - 1));
}

Result<ScratchDir> MakeZygoteScratch(const SupervisorConfig& config, uint32_t uid_base, uint32_t uid_count,
                                     uint32_t lane) {
  if (!ProfileOf(config.tier).landlock_fs) return ScratchDir{};
  const uint32_t uid = ReducedZygoteUid(uid_base, uid_count, lane);
  const ReducedIdentity identity = DecideReducedIdentity(config, uid);
  if (!identity.refusal.empty()) {
    return Status::Error(ErrorCode::kIsolationUnavailable, "pycage-jail: identity: " + identity.refusal);
  }
  return ScratchDir::Create(identity.own_uid ? static_cast<uid_t>(uid) : static_cast<uid_t>(-1));
}

std::vector<std::string> BuildZygoteArgs(const SupervisorConfig& config, uint32_t uid_base, uint32_t uid_count,
                                         const std::string& scratch_dir, uint32_t lane) {
  std::vector<std::string> args;
  const IsolationProfile& profile = ProfileOf(config.tier);
  args.insert(args.end(), {"--tier", std::string(profile.name)});
  if (profile.landlock_fs) {
    // No namespace: the paths are granted where they are, read-only, and
    // the scratch directory is the only one the jail may write.
    // RLIMIT_NPROC counts every process of the uid: the pool's own (zygote,
    // spares, runs, sessions) and, without a uid of its own, the host's.
    uint64_t processes_base = uid_count + 1;
    const uint32_t zygote_uid = ReducedZygoteUid(uid_base, uid_count, lane);
    if (DecideReducedIdentity(config, zygote_uid).own_uid) {
      // The helper's plan switches to the last uid of its range: this one.
      args.insert(args.end(), {"--uid-base", std::to_string(zygote_uid), "--uid-count", "1"});
      // The uid is this lane's alone: the zygote counts its own processes
      // at each run (zygote.py, LANE_UID), the host's never share it.
      processes_base = 0;
      args.insert(args.end(), {"--setenv", "PYCAGE_LANE_UID=1"});
    } else {
      processes_base += ProcessesOfOurUid();
    }
    if (processes_base != 0) {
      args.insert(args.end(), {"--setenv", "PYCAGE_PROCESSES_BASE=" + std::to_string(processes_base)});
    }
    for (const std::string& prefix : config.python_prefixes) args.insert(args.end(), {"--ro-bind", prefix});
    args.insert(args.end(), {"--ro-bind", config.runner_dir});
    for (const std::string& bind : config.extra_ro_binds) args.insert(args.end(), {"--ro-bind", bind});
    args.insert(args.end(), {"--scratch-dir", scratch_dir});
    for (const char* variable : {"HOME=", "TMPDIR="}) args.insert(args.end(), {"--setenv", variable + scratch_dir});
    const std::string helper_dir = config.helper_path.substr(0, config.helper_path.rfind('/'));
    args.insert(args.end(), {"--setenv", "PYCAGE_CONFINE_LIB=" + helper_dir + "/pycage-confine.so"});
  }
  if (profile.namespaces) {
    if (geteuid() == 0) {
      args.insert(args.end(), {"--uid-base", std::to_string(uid_base), "--uid-count", std::to_string(uid_count)});
    }
    for (const std::string& prefix : config.python_prefixes) {
      // The helper binds /usr and /lib* itself; binding inside them again is noise.
      if (IsUnder(prefix, "/usr") || IsUnder(prefix, "/lib") || IsUnder(prefix, "/lib64") || prefix == "/") continue;
      args.insert(args.end(), {"--ro-bind", prefix});
    }
    args.insert(args.end(), {"--ro-bind", config.runner_dir + ":" + kJailRunnerDir});
    for (const std::string& bind : config.extra_ro_binds) args.insert(args.end(), {"--ro-bind", bind});
    if (!config.cgroup_root.empty()) {
      // The whole jail (zygote, spares, runs and sessions) shares one cgroup.
      // Its size is computed once, in JS (js/sandbox.js), which knows the
      // session cap and the operator's ceiling; the addon requires both values.
      args.insert(args.end(), {"--cgroup-root", config.cgroup_root, "--cgroup-pids-max",
                               std::to_string(config.cgroup_pids_max), "--cgroup-memory-max",
                               std::to_string(config.cgroup_memory_max)});
    }
  }
  if (profile.per_run_uid && geteuid() == 0) args.insert(args.end(), {"--setenv", "PYCAGE_UID_COUNT=" + std::to_string(uid_count)});
  // LD_BIND_NOW: the dynamic linker binds the interpreter's libc calls once,
  // in the zygote, not lazily in every fork (zygote.py drops it for runs).
  for (const char* variable :
       {"OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "NUMEXPR_NUM_THREADS=1",
        "VECLIB_MAXIMUM_THREADS=1", "MPLBACKEND=Agg", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
        "PATH=/usr/local/bin:/usr/bin:/bin", "LD_BIND_NOW=1"}) {
    args.insert(args.end(), {"--setenv", variable});
  }
  if (!profile.landlock_fs) args.insert(args.end(), {"--setenv", "HOME=/tmp"});
  args.insert(args.end(), {"--setenv", "PYCAGE_SPARES=" + std::to_string(kZygoteSpares)});
  for (const std::string& variable : config.extra_env) args.insert(args.end(), {"--setenv", variable});
  args.insert(args.end(), {"--control-fd", "3", "--parent-pid", std::to_string(getpid()), "--", config.python, "-I",
                           "-S", (profile.binds_paths ? std::string(kJailRunnerDir) : config.runner_dir) + "/zygote.py"});
  return args;
}

Zygote::Zygote(uv_loop_t* loop, ZygoteSpec spec, ZygoteCallbacks callbacks)
    : loop_(loop), spec_(std::move(spec)), callbacks_(std::move(callbacks)) {}

Zygote::~Zygote() = default;

Status Zygote::Start() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
    return Status::FromErrno(ErrorCode::kInternal, "socketpair(AF_UNIX) for the zygote control channel", errno);
  }
  control_.reset(pair[0]);
  UniqueFd child_end(pair[1]);
  // The zygote end must block: the zygote reads it with plain recvmsg.
  fcntl(child_end.get(), F_SETFL, fcntl(child_end.get(), F_GETFL) & ~O_NONBLOCK);

  std::vector<std::string> argv;
  argv.reserve(spec_.helper_args.size() + 1);
  argv.push_back(spec_.helper_path);
  argv.insert(argv.end(), spec_.helper_args.begin(), spec_.helper_args.end());
  Result<HelperProcess> spawned = SpawnHelper(spec_.helper_path, argv, child_end.get());
  if (!spawned.ok()) {
    state_ = State::kDead;
    closing_ = true;
    // Close one handle anyway, so on_closed fires as it would after an exit.
    uv_pipe_init(loop_, &stderr_pipe_, 0);
    stderr_pipe_.data = this;
    ++open_handles_;
    uv_close(reinterpret_cast<uv_handle_t*>(&stderr_pipe_), &Zygote::OnHandleClosed);
    return Status::Error(ErrorCode::kIsolationUnavailable,
                         spawned.status().message() + "; reinstall pycage or rebuild it with `npx pycage build`");
  }
  helper_ = std::move(*spawned);
  child_end.reset();

  uv_pipe_init(loop_, &stderr_pipe_, 0);
  stderr_pipe_.data = this;
  uv_pipe_open(&stderr_pipe_, helper_.stderr_read.release());
  stderr_open_ = true;
  ++open_handles_;

  uv_poll_init(loop_, &exit_poll_, helper_.pidfd.get());
  exit_poll_.data = this;
  uv_poll_start(&exit_poll_, UV_READABLE, &Zygote::OnHelperExit);
  process_alive_ = true;
  ++open_handles_;

  uv_read_start(reinterpret_cast<uv_stream_t*>(&stderr_pipe_), &Zygote::OnStderrAlloc, &Zygote::OnStderrRead);
  uv_poll_init(loop_, &control_poll_, control_.get());
  control_poll_.data = this;
  poll_open_ = true;
  ++open_handles_;
  UpdatePollEvents();
  return Status::Ok();
}

void Zygote::SendRun(uint64_t id, uint32_t slot, const protocol::ChildLimits& limits, std::vector<UniqueFd> fds,
                     const std::string& session) {
  Enqueue(protocol::BuildRunCommand(id, slot, limits, session), std::move(fds));
}

void Zygote::SendCloseSession(const std::string& session) {
  Enqueue(protocol::BuildCloseSessionCommand(session), {});
}

void Zygote::SendKill(uint64_t id) { Enqueue(protocol::BuildKillCommand(id), {}); }

void Zygote::Enqueue(const std::string& payload, std::vector<UniqueFd> fds) {
  if (state_ == State::kDead) return;  // fds close here; the run learns of the death separately
  Outgoing outgoing;
  outgoing.bytes = protocol::EncodeFrame(payload);
  outgoing.fds = std::move(fds);
  outbox_.push_back(std::move(outgoing));
  Flush();
}

void Zygote::Flush() {
  while (!outbox_.empty() && control_.valid()) {
    Outgoing& front = outbox_.front();
    iovec iov{front.bytes.data() + front.offset, front.bytes.size() - front.offset};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control_buffer[CMSG_SPACE(sizeof(int) * 4)];
    if (front.offset == 0 && !front.fds.empty()) {
      // The fds ride on the frame's first byte, as PROTOCOL.md says.
      const size_t fd_bytes = sizeof(int) * front.fds.size();
      message.msg_control = control_buffer;
      message.msg_controllen = CMSG_SPACE(fd_bytes);
      cmsghdr* header = CMSG_FIRSTHDR(&message);
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(fd_bytes);
      auto* slots = reinterpret_cast<int*>(CMSG_DATA(header));
      for (size_t i = 0; i < front.fds.size(); ++i) slots[i] = front.fds[i].get();
    }
    const ssize_t sent = sendmsg(control_.get(), &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      MarkDead(std::string("control channel write failed: ") + std::strerror(errno));
      return;
    }
    front.fds.clear();  // the kernel holds its own references now
    front.offset += static_cast<size_t>(sent);
    if (front.offset == front.bytes.size()) outbox_.pop_front();
  }
  UpdatePollEvents();
}

void Zygote::UpdatePollEvents() {
  if (!poll_open_ || closing_ || !control_.valid()) return;
  int events = UV_READABLE;
  if (!outbox_.empty()) events |= UV_WRITABLE;
  uv_poll_start(&control_poll_, events, &Zygote::OnControlEvent);
}

void Zygote::OnControlEvent(uv_poll_t* poll, int status, int events) {
  auto* self = static_cast<Zygote*>(poll->data);
  if (status < 0) {
    self->MarkDead(std::string("control channel poll failed: ") + uv_strerror(status));
    return;
  }
  if (events & UV_WRITABLE) self->Flush();
  if ((events & UV_READABLE) && self->state_ != State::kDead) self->ReadControl();
}

void Zygote::ReadControl() {
  char buffer[16384];
  for (;;) {
    const ssize_t n = recv(control_.get(), buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      MarkDead(std::string("control channel read failed: ") + std::strerror(errno));
      return;
    }
    if (n == 0) {
      // The helper closes it by exiting; a failed setup step said why on
      // stderr first.
      DrainStderr();
      MarkDead(recent_log_.empty() ? std::string("the zygote closed its control channel")
                                   : "the zygote closed its control channel: " + recent_log_.back());
      return;
    }
    if (!decoder_.Feed(std::string_view(buffer, static_cast<size_t>(n))).ok()) {
      MarkDead("the zygote sent an oversized control frame");
      Kill();
      return;
    }
    std::string frame;
    while (decoder_.Next(&frame)) {
      auto message = protocol::ParseControlMessage(frame);
      if (!message.ok()) {
        MarkDead(message.status().message());
        Kill();
        return;
      }
      if (message->op == protocol::ControlMessage::Op::kReady) {
        if (state_ == State::kStarting) {
          state_ = State::kReady;
          if (callbacks_.on_ready) callbacks_.on_ready();
        }
      } else if (callbacks_.on_exit_report) {
        callbacks_.on_exit_report(*message);
      }
      if (state_ == State::kDead) return;
    }
  }
}

void Zygote::MarkDead(const std::string& reason) {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  outbox_.clear();
  if (poll_open_) uv_poll_stop(&control_poll_);
  if (callbacks_.on_dead) callbacks_.on_dead(reason);
}

void Zygote::Kill() {
  // Not yet reaped, so the pid still names our helper.
  if (process_alive_) kill(helper_.pid, SIGKILL);
}

void Zygote::Close() {
  if (closing_) return;
  closing_ = true;
  MarkDead("the zygote was retired");
  Kill();
  if (poll_open_) {
    poll_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&control_poll_), &Zygote::OnHandleClosed);
  }
  // The stderr pipe and the process handle close once the process has exited,
  // so its last words still reach the log.
  if (!process_alive_) {
    if (stderr_open_) {
      stderr_open_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&stderr_pipe_), &Zygote::OnHandleClosed);
    }
  }
}

void Zygote::OnHelperExit(uv_poll_t* poll, int /*status*/, int /*events*/) {
  auto* self = static_cast<Zygote*>(poll->data);
  int exit_code = 0;
  int term_signal = 0;
  if (!ReapHelper(self->helper_.pid, &exit_code, &term_signal)) return;
  self->process_alive_ = false;
  uv_poll_stop(poll);
  // The helper's last words (a failed setup step) may still sit in the pipe:
  // the pidfd can turn readable before libuv reads them.
  self->DrainStderr();
  std::string reason = term_signal ? "the jail helper was killed by signal " + std::to_string(term_signal)
                                   : "the jail helper exited with code " + std::to_string(exit_code);
  if (!self->recent_log_.empty()) reason += ": " + self->recent_log_.back();
  self->MarkDead(reason);
  uv_close(reinterpret_cast<uv_handle_t*>(poll), &Zygote::OnHandleClosed);
  if (self->closing_ && self->stderr_open_) {
    self->stderr_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stderr_pipe_), &Zygote::OnHandleClosed);
  } else if (!self->closing_) {
    self->Close();
  }
}

void Zygote::OnStderrAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Zygote*>(handle->data);
  *buf = uv_buf_init(self->stderr_buffer_, sizeof(self->stderr_buffer_));
}

void Zygote::OnStderrRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Zygote*>(stream->data);
  if (nread < 0) {
    if (!self->stderr_partial_.empty()) self->AddLogLine(self->stderr_partial_);
    self->stderr_partial_.clear();
    uv_read_stop(stream);
    return;
  }
  self->AppendStderr(buf->base, static_cast<size_t>(nread));
}

void Zygote::AppendStderr(const char* data, size_t size) {
  stderr_partial_.append(data, size);
  size_t newline;
  while ((newline = stderr_partial_.find('\n')) != std::string::npos) {
    AddLogLine(stderr_partial_.substr(0, newline));
    stderr_partial_.erase(0, newline + 1);
  }
  if (stderr_partial_.size() > 8192) {  // a line without end: cut it
    AddLogLine(stderr_partial_);
    stderr_partial_.clear();
  }
}

void Zygote::DrainStderr() {
  uv_os_fd_t fd = -1;
  if (!stderr_open_ || uv_fileno(reinterpret_cast<uv_handle_t*>(&stderr_pipe_), &fd) != 0) return;
  char buffer[4096];
  ssize_t n;
  // Non-blocking (libuv set O_NONBLOCK): stops at EAGAIN or EOF.
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) AppendStderr(buffer, static_cast<size_t>(n));
  if (!stderr_partial_.empty()) {
    AddLogLine(stderr_partial_);
    stderr_partial_.clear();
  }
}

void Zygote::AddLogLine(const std::string& line) {
  if (line.empty()) return;
  if (recent_log_.size() == kRecentLogLines) recent_log_.erase(recent_log_.begin());
  recent_log_.push_back(line);
  if (callbacks_.on_log) callbacks_.on_log(line);
}

void Zygote::OnHandleClosed(uv_handle_t* handle) {
  auto* self = static_cast<Zygote*>(handle->data);
  if (--self->open_handles_ == 0 && self->callbacks_.on_closed) self->callbacks_.on_closed();
}

}  // namespace pycage
