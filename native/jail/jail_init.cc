#include "jail/jail_init.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <string>

#include "jail/id_map_request.h"
#include "jail/user_ns.h"

namespace pycage::jail::jail_init {
namespace {

void Say(const std::string& text) {
  std::string line = "pycage-jail: init: " + text + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// The parent pid of `pid` from /proc/<pid>/stat, or -1.
pid_t ParentOf(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so
  // parse from the last ')'.
  std::string text(buf, static_cast<size_t>(n));
  size_t close_paren = text.rfind(')');
  if (close_paren == std::string::npos || close_paren + 4 >= text.size()) return -1;
  return static_cast<pid_t>(std::strtol(text.c_str() + close_paren + 4, nullptr, 10));
}

bool Alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

class Init {
 public:
  Init(int init_fd, pid_t zygote, const SlotRange& range) : init_fd_(init_fd), zygote_(zygote), range_(range) {}

  void OnRequest() {
    id_map_request::Received request;
    bool closed = false;
    while (id_map_request::Receive(init_fd_, request, &closed)) {
      id_map_request::Reply(request, Handle(request));
    }
    if (closed) {
      close(init_fd_);
      init_fd_ = -1;
    }
  }

  // Reaps what exited; true once the zygote has.
  bool Reap(int* zygote_status) {
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
      if (pid <= 0) return zygote_done_;
      if (pid == zygote_) {
        zygote_done_ = true;
        *zygote_status = status;
      }
    }
  }

  int fd() const { return init_fd_; }

 private:
  int Handle(const id_map_request::Received& r) {
    if (!r.well_formed) return EINVAL;
    uint32_t slot = r.message.slot;
    if (!MayMap(range_, zygote_, ParentOf(r.pid), r.uid, slot)) return EPERM;
    // One live process per slot (with a uid range; in the single-uid layout
    // every run shares uid 0 and its own pid namespace keeps it apart): a
    // slot comes back only once its spare is reaped.
    auto holder = holders_.find(slot);
    if (range_.first != 0 && holder != holders_.end() && holder->second != r.pid && Alive(holder->second) &&
        ParentOf(holder->second) == zygote_) {
      return EBUSY;
    }
    const std::string line = IdMapLine(slot);
    // setgroups first: a gid map written by a privileged writer would
    // otherwise leave setgroups(2) usable inside.
    Status s = user_ns::DenySetgroups(r.pid);
    if (s.ok()) s = user_ns::WriteIdMap(r.pid, "uid_map", line);
    if (s.ok()) s = user_ns::WriteIdMap(r.pid, "gid_map", line);
    if (!s.ok()) return s.sys_errno() != 0 ? s.sys_errno() : EIO;
    holders_[slot] = r.pid;
    return 0;
  }

  int init_fd_;
  pid_t zygote_;
  SlotRange range_;
  bool zygote_done_ = false;
  std::map<uint32_t, pid_t> holders_;
};

}  // namespace

bool MayMap(const SlotRange& range, pid_t zygote, pid_t parent_pid, uid_t uid, uint32_t slot) {
  return parent_pid == zygote && uid == range.zygote_uid && slot >= range.first && slot <= range.last;
}

std::string IdMapLine(uint32_t slot) { return std::to_string(slot) + " " + std::to_string(slot) + " 1"; }

void Serve(int init_fd, pid_t zygote, const SlotRange& range) {
  // A spare killed before it read its answer must not take the jail down.
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    Say("signalfd(SIGCHLD) failed; polling instead");
  }
  Init init(init_fd, zygote, range);
  int zygote_status = 0;
  while (!init.Reap(&zygote_status)) {
    pollfd fds[2] = {{sigfd, POLLIN, 0}, {init.fd(), POLLIN, 0}};
    int n = poll(fds, 2, sigfd < 0 ? 100 : -1);
    if (n < 0 && errno != EINTR) {
      Say("poll failed");
      break;
    }
    if (sigfd >= 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info;
      while (read(sigfd, &info, sizeof info) > 0) {
      }
    }
    if (init.fd() >= 0 && fds[1].revents != 0) init.OnRequest();
  }
  // The zygote is gone: nothing in the jail may outlive it.
  kill(-1, SIGKILL);
  while (waitpid(-1, nullptr, __WALL) > 0 || errno == EINTR) {
  }
  if (WIFSIGNALED(zygote_status)) _exit(128 + WTERMSIG(zygote_status));
  _exit(WEXITSTATUS(zygote_status));
}

}  // namespace pycage::jail::jail_init
