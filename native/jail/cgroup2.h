// cgroup v2 limits for a whole jail, in a subtree the caller delegated to us.
//
// The helper never enables controllers: the caller's root directory must
// already list pids and memory in its cgroup.subtree_control, so every child
// cgroup has pids.max and memory.max. Per jail the helper (parent side):
//   1. before clone: Validate(root)  (cgroup2 magic, controllers, write access);
//   2. after the id maps, before releasing the child:
//        Create()  mkdir root/pycage-<helper pid>-<random>, write pids.max,
//                  memory.max and memory.swap.max=0 (when the kernel has it);
//        Attach()  write the child's pid to cgroup.procs;
//   3. after the child is reaped: Remove()  rmdir, retrying briefly on EBUSY.
//
// CgroupFs lets tests run the same code on a plain temporary directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace pycage::jail::cgroup2 {

struct Limits {
  uint64_t pids_max = 0;
  uint64_t memory_max = 0;
};

// Where and how the helper touches the cgroup filesystem.
struct CgroupFs {
  std::string root;         // the delegated directory (--cgroup-root)
  bool check_magic = true;  // statfs(root) must say CGROUP2_SUPER_MAGIC
  // Tests on a plain directory: interface files are created when written and
  // unlinked before rmdir (cgroupfs has them already and removes them itself).
  bool plain_directory = false;
};

// The interface files Create writes, in order.
inline constexpr const char* kPidsMax = "pids.max";
inline constexpr const char* kMemoryMax = "memory.max";
inline constexpr const char* kMemorySwapMax = "memory.swap.max";
inline constexpr const char* kProcs = "cgroup.procs";

// Checks that root is a directory on cgroup2 (unless !check_magic), that its
// cgroup.subtree_control lists pids and memory, and that we may create
// directories in it. Errors say what is wrong and how to fix it.
Status Validate(const CgroupFs& fs);

// "pycage-<helper_pid>-<8 random hex digits>".
std::string NewName(pid_t helper_pid);

// mkdir root/name (0755) and WriteLimits into it; removes the directory again
// when a write fails. Returns the new directory's path.
Result<std::string> Create(const CgroupFs& fs, const std::string& name, const Limits& limits);

// pids.max, memory.max, and memory.swap.max = 0 when that file exists.
Status WriteLimits(const CgroupFs& fs, const std::string& dir, const Limits& limits);

// Moves `pid` into dir by writing it to dir/cgroup.procs.
Status Attach(const CgroupFs& fs, const std::string& dir, pid_t pid);

// rmdir(dir), retrying for up to about a second while it is EBUSY (the last
// tasks of a dead pid namespace may still be leaving the cgroup).
Status Remove(const CgroupFs& fs, const std::string& dir);

// For --probe: is `root` usable as --cgroup-root, and if not, why.
struct Availability {
  bool available = false;
  std::string reason;
};
Availability Check(const std::string& root);

}  // namespace pycage::jail::cgroup2
