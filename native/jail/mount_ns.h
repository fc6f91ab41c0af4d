// Mount namespace, bubblewrap-style:
//   1. make / rslave so nothing we do propagates to the host;
//   2. open every bind source as an O_PATH fd while the child still holds the
//      host's root kuid (before setresuid in the new user namespace): that
//      lets it cross 0700 root directories such as /root on the way to a
//      pyenv prefix, which jail uid 0 (a non-root host uid) could not;
//   3. a scratch tmpfs becomes / with the old root at /oldroot;
//   4. /newroot (tmpfs) gets read-only binds from those fds, its own /proc, a
//      minimal /dev and a size-capped /tmp;
//   5. /newroot itself goes read-only, becomes / and the old root is detached.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace pycage::jail::mount_ns {

Status MakeRootSlave();

// O_PATH|O_NOFOLLOW|O_CLOEXEC fds, one per source, in order.
Result<std::vector<int>> OpenSources(const std::vector<std::string>& sources);

Status MountTmpfs(const std::string& target, uint64_t size_bytes, unsigned mode, unsigned long flags);

// chdir(base); pivot_root(".", "oldroot"); the old root lands at /oldroot.
Status PivotToBase(const std::string& base);

// Mirrors `src_fd` at `dst`: a symlink is recreated as a symlink, anything
// else is bind-mounted (recursively) and made nosuid, nodev and, when
// `read_only`, read-only. `proc` is where the host /proc is reachable now
// ("/oldroot/proc").
Status Bind(int src_fd, const std::string& src_name, const std::string& dst, const std::string& proc,
            bool read_only);
Status BindReadOnly(int src_fd, const std::string& src_name, const std::string& dst,
                    const std::string& proc);

// Binds `path` onto itself (recursively) and makes that read-only: the
// installer profile's /proc/sys, whose files check the caller's uid only.
Status RebindReadOnly(const std::string& path);

// Hides `path`: a directory under an empty read-only tmpfs, a file under a
// read-only bind of `null_node`. A missing path or a symlink is left alone.
Status Mask(const std::string& path, const std::string& null_node);

// Read-only for one mount, or for a whole subtree. Uses mount_setattr and
// falls back to MS_REMOUNT|MS_BIND while keeping the flags the kernel locks
// (nosuid, nodev, noexec, atime) as they are.
Status MakeReadOnly(const std::string& path, bool recursive);

Status MountProc(const std::string& target);
// Empty regular file at dst, then a (non-recursive) bind of the host node.
Status BindDevNode(const std::string& host_node, const std::string& dst);
Status Symlink(const std::string& target, const std::string& path);
Status MkdirAll(const std::string& path, unsigned mode);

// chdir(newroot); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/").
Status PivotToNewRoot(const std::string& newroot);

}  // namespace pycage::jail::mount_ns
