// pycage-confine.so: each run's own jail (jail/run_jail.h) as three C calls
// the zygote's fork makes through ctypes. A plain C ABI, so it serves every
// CPython without being built against one. See native/PROTOCOL.md.
#include <sys/types.h>

#include <cstddef>
#include <cstring>
#include <string>

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

}  // namespace

extern "C" {

// Spare phase: a user namespace mapped to `slot` by the jail's init, then
// mount and pid namespaces. 0, or -1 with the failed step in err.
__attribute__((visibility("default"))) int pycage_run_enter(int init_fd, unsigned slot, char* err, size_t err_len) {
  pycage::jail::run_jail::Spec spec;
  spec.init_fd = init_fd;
  spec.slot = slot;
  pycage::Status s = pycage::jail::run_jail::Execute(pycage::jail::run_jail::Phase::kSpare, spec);
  return s.ok() ? 0 : Fail(s, err, err_len);
}

// Run phase, in pid 1 of the new pid namespace. bpf may be NULL (no filter).
__attribute__((visibility("default"))) int pycage_run_seal(unsigned slot, const char* tmp_options, const void* bpf,
                                                           size_t bpf_bytes, int keeper_fd, char* err,
                                                           size_t err_len) {
  pycage::jail::run_jail::Spec spec;
  spec.slot = slot;
  spec.tmp_options = tmp_options != nullptr ? tmp_options : "";
  spec.filter = static_cast<const sock_filter*>(bpf);
  spec.filter_len = bpf != nullptr ? bpf_bytes / sizeof(sock_filter) : 0;
  spec.keeper_fd = keeper_fd;
  pycage::Status s = pycage::jail::run_jail::Execute(pycage::jail::run_jail::Phase::kRun, spec);
  return s.ok() ? 0 : Fail(s, err, err_len);
}

// The spare after forking pid 1: never returns.
__attribute__((visibility("default"))) void pycage_run_keep(int run_pid1, int hold_fd) {
  pycage::jail::run_jail::Keep(static_cast<pid_t>(run_pid1), hold_fd);
}

}  // extern "C"
