#include "supervisor/helper_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace pycage {
namespace {

// RAII for posix_spawn's two attribute objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

Result<HelperProcess> SpawnHelper(const std::string& path, const std::vector<std::string>& args, int control_fd) {
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return Status::FromErrno(ErrorCode::kInternal, "pipe2() for the jail helper's stderr", errno);
  }
  UniqueFd err_read(err_pipe[0]);
  UniqueFd err_write(err_pipe[1]);
  fcntl(err_read.get(), F_SETFL, fcntl(err_read.get(), F_GETFL) | O_NONBLOCK);

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&setup.actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  // dup2 clears FD_CLOEXEC on the target: these two survive the exec, every
  // other descriptor of the host is CLOEXEC and does not.
  posix_spawn_file_actions_adddup2(&setup.actions, err_write.get(), STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, control_fd, 3);
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  char* empty_env[] = {nullptr};  // the helper never sees the host's environment

  // glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK): nothing that is
  // unsafe in a multithreaded parent runs between the clone and the exec.
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &setup.actions, &setup.attr, argv.data(), empty_env);
  if (rc != 0) {
    return Status::FromErrno(ErrorCode::kIsolationUnavailable, "cannot start the jail helper " + path, rc);
  }
  // The pid cannot be reused before we reap it, so opening its pidfd now is
  // race-free.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int err = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Status::FromErrno(ErrorCode::kIsolationUnavailable,
                             "pidfd_open() for the jail helper (pycage needs Linux 5.3 or newer)", err);
  }
  HelperProcess process;
  process.pid = pid;
  process.pidfd.reset(pidfd);
  process.stderr_read = std::move(err_read);
  return process;
}

bool ReapHelper(pid_t pid, int* exit_code, int* term_signal) {
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (got == 0) return false;
  *exit_code = 0;
  *term_signal = 0;
  if (got < 0) {
    *exit_code = -1;  // already reaped elsewhere: report it as gone
  } else if (WIFSIGNALED(status)) {
    *term_signal = WTERMSIG(status);
  } else {
    *exit_code = WEXITSTATUS(status);
  }
  return true;
}

}  // namespace pycage
