// The reduced tier's writable tree: a private directory under the host's
// temporary directory that one zygote and its runs may write (each run in a
// subdirectory of its own, made by the zygote). Made before the zygote
// starts and removed, with whatever the runs left, when it is gone.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace pycage {

class ScratchDir {
 public:
  ScratchDir() = default;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchDir& operator=(ScratchDir&& other) noexcept;
  ~ScratchDir() { Remove(); }

  // mkdtemp under $TMPDIR (else /tmp), mode 0700, given to `owner` when it
  // is not -1 (the zygote's uid when the host is root). Named after this
  // process's pid; first removes the trees of pids that are gone (a host
  // killed with SIGKILL cannot remove its own).
  static Result<ScratchDir> Create(uid_t owner);

  const std::string& path() const { return path_; }
  bool empty() const { return path_.empty(); }
  // Removes the tree, even parts a run made unreadable (chmod 0); idempotent.
  void Remove();

 private:
  std::string path_;
};

}  // namespace pycage
