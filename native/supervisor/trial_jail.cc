#include "supervisor/trial_jail.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/host_identity.h"
#include "supervisor/helper_process.h"
#include "supervisor/unique_fd.h"
#include "supervisor/zygote.h"

namespace pycage {
namespace {

constexpr size_t kMaxLog = 64 * 1024;

double NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Reads what is available on the non-blocking stderr pipe; false at EOF.
bool Drain(int fd, std::string* log) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      log->append(buffer, std::min(static_cast<size_t>(n), kMaxLog - std::min(kMaxLog, log->size())));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

}  // namespace

Result<TrialOutcome> RunTrialJail(const SupervisorConfig& config, int timeout_ms) {
  // One run slot, no session: the smallest uid range the plan accepts.
  const uint32_t uid_count = 1 + 2 + kZygoteSpares;
  const uint32_t uid_base =
      config.uid_base != 0 ? config.uid_base
                           : static_cast<uint32_t>(kPoolUidFirst + (getpid() % (kPoolUidSpan / 65536)) * 65536);
  Result<ScratchDir> scratch = MakeZygoteScratch(config, uid_base, uid_count);
  if (!scratch.ok()) {
    // A step of the jail's setup that failed before any process: reported
    // like the helper's own step lines, so the caller names it the same way.
    TrialOutcome refused;
    refused.exit_code = 125;
    refused.log = scratch.status().message() + "\n";
    return refused;
  }
  std::vector<std::string> args = BuildZygoteArgs(config, uid_base, uid_count, scratch->path());
  // The zygote's trial mode (native/runner/zygote.py), set before the
  // program's arguments.
  auto program = std::find(args.begin(), args.end(), std::string("--control-fd"));
  args.insert(program, {"--setenv", "PYCAGE_TRIAL=1"});
  args.insert(args.begin(), config.helper_path);

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Status::FromErrno(ErrorCode::kInternal, "socketpair(AF_UNIX) for the trial jail", errno);
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  const double started = NowMs();
  Result<HelperProcess> spawned = SpawnHelper(config.helper_path, args, theirs.get());
  if (!spawned.ok()) return spawned.status();
  theirs.reset();
  HelperProcess helper = std::move(*spawned);

  TrialOutcome outcome;
  bool stderr_open = true;
  bool exited = false;
  while (!exited) {
    const double left = static_cast<double>(timeout_ms) - (NowMs() - started);
    if (left <= 0 && !outcome.timed_out) {
      outcome.timed_out = true;
      kill(helper.pid, SIGKILL);
    }
    pollfd fds[2] = {{helper.pidfd.get(), POLLIN, 0}, {stderr_open ? helper.stderr_read.get() : -1, POLLIN, 0}};
    const int n = poll(fds, 2, outcome.timed_out ? 1000 : static_cast<int>(left) + 1);
    if (n < 0 && errno != EINTR) break;
    if (stderr_open && (fds[1].revents & (POLLIN | POLLHUP)) != 0) stderr_open = Drain(helper.stderr_read.get(), &outcome.log);
    if ((fds[0].revents & POLLIN) != 0) exited = ReapHelper(helper.pid, &outcome.exit_code, &outcome.term_signal);
  }
  if (!exited) {
    kill(helper.pid, SIGKILL);
    while (!ReapHelper(helper.pid, &outcome.exit_code, &outcome.term_signal)) usleep(1000);
  }
  if (stderr_open) Drain(helper.stderr_read.get(), &outcome.log);
  outcome.wall_ms = NowMs() - started;
  outcome.ok = !outcome.timed_out && outcome.term_signal == 0 && outcome.exit_code == 0;
  return outcome;
}

}  // namespace pycage
