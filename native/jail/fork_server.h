// The fork server: a copy of the warm zygote, forked once, that forks the
// zygote's spares on request and runs no interpreter code of its own.
//
// Why: after every fork, each page the zygote's Python touches is copied once
// more while a live fork still shares it, about 250 pages (1 ms of CPU) per
// run. The server's pages are shared with every spare too, but nothing
// touches them, so they are never copied; the zygote's own pages are shared
// only with the server, so each is copied at most once in its life.
//
// Each spare is cloned with CLONE_PARENT into the run's namespaces
// (run_jail::CloneSibling), so it is the zygote's child, not the server's:
// the zygote's pidfd, wait4 and kill act on it, and the jail's init, which
// maps a uid only for a direct child of the zygote, maps it as before.
//
// The exchange, on a SOCK_SEQPACKET pair, one record each way per spare:
//   zygote -> server  Request (the spare's uid slot and /tmp options)
//   server -> zygote  Reply (the spare's pid, or -errno), with the zygote's
//                     end of the spare's socketpair (SCM_RIGHTS) when pid > 0
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace pycage::jail::fork_server {

inline constexpr size_t kTmpOptionsCap = 124;

struct Request {
  uint32_t slot;
  char tmp_options[kTmpOptionsCap];  // NUL-terminated
};

struct Reply {
  int32_t pid;  // > 0, or -errno of the failed socketpair or clone
};

// What a new spare knows when Serve returns in it.
struct Spare {
  uint32_t slot = 0;
  char tmp_options[kTmpOptionsCap] = {};  // NUL-terminated; no allocation in the new spare
  int fd = -1;  // the spare's end of its socketpair with the zygote
};

// Serves requests on `request_fd` and never returns in the server: it exits
// 0 when the zygote closes its end, 1 on a malformed request. Returns only in
// each new spare (its slot, options and socket), or with an error when the
// server cannot start (it has more than one thread, so a raw clone could
// inherit a held lock).
Result<Spare> Serve(int request_fd);

// What the zygote got for one request: a spare (pid and the zygote's end of
// its socket), or the errno of a socketpair or clone that failed in a server
// that lives on (a spare failure, as when the zygote forks itself).
struct Outcome {
  int32_t pid = 0;
  int fd = -1;
  int clone_errno = 0;
};

// The zygote's side, one call per spare: sends the request and waits for the
// reply. An error means the exchange failed: the server is gone (EPIPE) or
// broke the protocol, and the zygote should fork its spares itself.
Status RequestSpare(int server_fd, uint32_t slot, const std::string& tmp_options, Outcome* out);

}  // namespace pycage::jail::fork_server
