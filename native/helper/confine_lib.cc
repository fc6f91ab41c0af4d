// pycage-confine.so: each run's own jail (jail/run_jail.h) as C calls the
// zygote's forks make through ctypes (two for a fork of the zygote, one for
// a spare of the fork server). A plain C ABI, so it serves every
// CPython without being built against one. See native/PROTOCOL.md.
#include <sys/types.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "jail/fork_server.h"
#include "jail/reduced_run.h"
#include "jail/run_jail.h"

namespace {

int Fail(const pycage::Status& status, char* err, size_t err_len) {
  if (err != nullptr && err_len > 0) {
    const std::string& m = status.message();
    size_t n = m.size() < err_len - 1 ? m.size() : err_len - 1;
    std::memcpy(err, m.data(), n);
    err[n] = '\0';
  }
  return -1;
}

int Confine(int init_fd, unsigned slot, const char* tmp_options, const void* bpf, size_t bpf_bytes, char* err,
            size_t err_len) {
  pycage::jail::run_jail::Spec spec;
  spec.init_fd = init_fd;
  spec.slot = slot;
  spec.tmp_options = tmp_options != nullptr ? tmp_options : "";
  spec.filter = static_cast<const sock_filter*>(bpf);
  spec.filter_len = bpf != nullptr ? bpf_bytes / sizeof(sock_filter) : 0;
  pycage::Status s = pycage::jail::run_jail::Execute(spec);
  return s.ok() ? 0 : Fail(s, err, err_len);
}

}  // namespace

extern "C" {

// The fork phase: a fork-like clone() into the run's user, mount and pid
// namespaces. The child's pid, 0 in the child, or -errno (-EDEADLK: the
// caller has other threads). The caller wraps it in its runtime's fork hooks.
__attribute__((visibility("default"))) int pycage_run_clone(void) {
  return static_cast<int>(pycage::jail::run_jail::Clone());
}

// The child phase, in pid 1 of the new pid namespace: the uid map, /proc,
// /tmp, identity, capabilities, no_new_privs and the filter (bpf may be
// NULL: none). 0, or -1 with the failed step in err.
__attribute__((visibility("default"))) int pycage_run_confine(int init_fd, unsigned slot, const char* tmp_options,
                                                              const void* bpf, size_t bpf_bytes, char* err,
                                                              size_t err_len) {
  return Confine(init_fd, slot, tmp_options, bpf, bpf_bytes, err, err_len);
}

// The fork server (jail/fork_server.h), in the zygote's one fork made for
// it: serves spare requests on request_fd and never returns there. In each
// new spare it builds the run's jail at once (the steps of
// pycage_run_confine, with the spare's slot and /tmp options, the init on
// init_fd and the filter bpf), so a spare makes one call into this library,
// not two: each call's arguments and return touch interpreter pages that a
// fresh fork copies. Returns 0 in a spare whose jail is built and 1 in one
// whose step failed (err says which), both with the spare's socket in
// *spare_fd; or -1 with the reason in err when the server cannot start. The
// caller has run its runtime's before-fork hook once, and runs the after-fork
// child hook in each spare.
__attribute__((visibility("default"))) int pycage_fork_server_serve(int request_fd, int init_fd, const void* bpf,
                                                                    size_t bpf_bytes, int* spare_fd, char* err,
                                                                    size_t err_len) {
  pycage::Result<pycage::jail::fork_server::Spare> spare = pycage::jail::fork_server::Serve(request_fd);
  if (!spare.ok()) return Fail(spare.status(), err, err_len);
  const pycage::jail::fork_server::Spare& got = spare.value();
  *spare_fd = got.fd;
  return Confine(init_fd, got.slot, got.tmp_options, bpf, bpf_bytes, err, err_len) == 0 ? 0 : 1;
}

// The zygote's request for one spare. 0 with *pid and *spare_fd; a positive
// errno when the socketpair or clone failed in the server (which lives on);
// -1 with the reason in err when the exchange failed (the server is gone).
__attribute__((visibility("default"))) int pycage_fork_server_request(int server_fd, unsigned slot,
                                                                      const char* tmp_options, int* pid,
                                                                      int* spare_fd, char* err, size_t err_len) {
  pycage::jail::fork_server::Outcome outcome;
  pycage::Status s = pycage::jail::fork_server::RequestSpare(server_fd, slot, tmp_options != nullptr ? tmp_options : "",
                                                             &outcome);
  if (!s.ok()) return Fail(s, err, err_len);
  if (outcome.clone_errno != 0) return outcome.clone_errno;
  *pid = outcome.pid;
  *spare_fd = outcome.fd;
  return 0;
}

// The reduced tier's confinement of a run (reduced_run.h), in the forked
// child: Landlock narrowed to `read_fds` (read) and `write_fds` (its scratch
// directory and /dev/null), then the filter. 0, or -1 with the failed step in err.
__attribute__((visibility("default"))) int pycage_reduced_confine(const int* read_fds, size_t read_count,
                                                                  const int* write_fds, size_t write_count,
                                                                  const void* bpf, size_t bpf_bytes, char* err,
                                                                  size_t err_len) {
  pycage::jail::reduced_run::Spec spec;
  if (read_fds != nullptr) spec.read_fds.assign(read_fds, read_fds + read_count);
  if (write_fds != nullptr) spec.write_fds.assign(write_fds, write_fds + write_count);
  spec.filter = static_cast<const sock_filter*>(bpf);
  spec.filter_len = bpf != nullptr ? bpf_bytes / sizeof(sock_filter) : 0;
  pycage::Status s = pycage::jail::reduced_run::Execute(spec);
  return s.ok() ? 0 : Fail(s, err, err_len);
}

}  // extern "C"
