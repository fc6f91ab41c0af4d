#include "jail/id_map_request.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jail/sys_error.h"

namespace pycage::jail::id_map_request {

Status Send(int init_fd, uint32_t slot) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) return SysError("id-map", "pipe2()");
  Message message{kMagic, slot};
  iovec iov{&message, sizeof message};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &pipe_fds[1], sizeof(int));
  ssize_t sent;
  while ((sent = sendmsg(init_fd, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  int send_errno = errno;
  close(pipe_fds[1]);  // only the init holds the write end now: EOF if it dies
  if (sent != static_cast<ssize_t>(sizeof message)) {
    close(pipe_fds[0]);
    errno = sent < 0 ? send_errno : EIO;
    return SysError("id-map", "sendmsg(init, slot " + std::to_string(slot) + ")");
  }
  int32_t answer = 0;
  ssize_t got;
  while ((got = read(pipe_fds[0], &answer, sizeof answer)) < 0 && errno == EINTR) {
  }
  close(pipe_fds[0]);
  if (got != sizeof answer) {
    errno = got < 0 ? errno : EPIPE;
    return SysError("id-map", "read(init's answer)");
  }
  if (answer != 0) {
    errno = answer;
    return SysError("id-map", "the jail's init refused to map slot " + std::to_string(slot));
  }
  return Status::Ok();
}

bool Receive(int init_fd, Received& out, bool* closed) {
  out = Received{};
  Message message{};
  iovec iov{&message, sizeof message};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(4 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = recvmsg(init_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n < 0) return false;
  bool have_creds = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.pid = cred.pid;
      out.uid = cred.uid;
      have_creds = true;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (out.reply_fd < 0) {
          out.reply_fd = fd;
        } else {
          close(fd);
        }
      }
    }
  }
  if (n == 0 && !have_creds && out.reply_fd < 0) {
    // SOCK_SEQPACKET: a zero-length read with nothing attached is the peer's close.
    if (closed != nullptr) *closed = true;
    return false;
  }
  out.message = message;
  out.well_formed = n == static_cast<ssize_t>(sizeof message) && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 &&
                    have_creds && message.magic == kMagic;
  return true;
}

void Reply(Received& request, int error) {
  if (request.reply_fd < 0) return;
  int32_t answer = error;
  ssize_t ignored = write(request.reply_fd, &answer, sizeof answer);
  (void)ignored;
  close(request.reply_fd);
  request.reply_fd = -1;
}

}  // namespace pycage::jail::id_map_request
