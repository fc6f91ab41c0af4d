#include "jail/fork_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jail/run_jail.h"
#include "jail/sys_error.h"

namespace pycage::jail::fork_server {
namespace {

// Sends the reply, with `fd` attached when it is >= 0. Failure means the
// zygote is gone; the server then exits on its next read.
void SendReply(int request_fd, int32_t pid, int fd) {
  Reply reply{pid};
  iovec iov{&reply, sizeof(reply)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  while (sendmsg(request_fd, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

}  // namespace

Result<Spare> Serve(int request_fd) {
  if (run_jail::ThreadCount() != 1) {
    return PlainError("fork-server", "the warm interpreter runs other threads, so a raw clone is not safe");
  }
  for (;;) {
    Request request{};
    // MSG_TRUNC: the record's real length, so a longer one is not taken cut.
    ssize_t n = recv(request_fd, &request, sizeof(request), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) _exit(0);  // the zygote closed its end
    // Not the zygote's record: the server is of no more use to it.
    if (n != static_cast<ssize_t>(sizeof(request))) _exit(1);
    if (memchr(request.tmp_options, '\0', sizeof(request.tmp_options)) == nullptr) _exit(1);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      SendReply(request_fd, -errno, -1);
      continue;
    }
    pid_t pid = run_jail::CloneSibling();
    if (pid == 0) {
      close(request_fd);
      close(pair[0]);
      Spare spare;
      spare.slot = request.slot;
      std::memcpy(spare.tmp_options, request.tmp_options, sizeof(spare.tmp_options));
      spare.fd = pair[1];
      return spare;
    }
    close(pair[1]);
    SendReply(request_fd, pid, pid > 0 ? pair[0] : -1);
    close(pair[0]);
  }
}

Status RequestSpare(int server_fd, uint32_t slot, const std::string& tmp_options, Outcome* out) {
  Request request{};
  request.slot = slot;
  if (tmp_options.size() >= sizeof(request.tmp_options)) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "fork-server: the /tmp options are longer than a request holds: " + tmp_options);
  }
  std::memcpy(request.tmp_options, tmp_options.data(), tmp_options.size());
  ssize_t sent;
  do {
    sent = send(server_fd, &request, sizeof(request), MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(sizeof(request))) {
    return Status::FromErrno(ErrorCode::kInternal, "fork-server: send", sent < 0 ? errno : EPIPE);
  }

  Reply reply{};
  iovec iov{&reply, sizeof(reply)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(server_fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  int received = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      std::memcpy(&received, CMSG_DATA(c), sizeof(int));
    }
  }
  if (n != static_cast<ssize_t>(sizeof(reply)) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    if (received >= 0) close(received);
    return Status::FromErrno(ErrorCode::kInternal, "fork-server: recvmsg", n < 0 ? errno : EPIPE);
  }
  if (reply.pid < 0) {
    if (received >= 0) close(received);
    out->clone_errno = -reply.pid;
    return Status::Ok();
  }
  if (reply.pid == 0 || received < 0) {
    if (received >= 0) close(received);
    return Status::FromErrno(ErrorCode::kInternal, "fork-server: a reply without a spare", EPROTO);
  }
  out->pid = reply.pid;
  out->fd = received;
  return Status::Ok();
}

}  // namespace pycage::jail::fork_server
