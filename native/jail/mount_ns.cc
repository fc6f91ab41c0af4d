#include "jail/mount_ns.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "jail/remount.h"
#include "jail/sys_error.h"

namespace pycage::jail::mount_ns {
namespace {

constexpr const char* kStage = "mount_ns";

std::string Hex(unsigned long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", v);
  return buf;
}

Status CreateFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) return SysError(kStage, "open(" + path + ", O_CREAT)");
  close(fd);
  return Status::Ok();
}

std::string Parent(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Mounts below `path` (and `path` itself), read from /proc/self/mountinfo,
// for the remount fallback, parents before children.
std::vector<std::string> MountsUnder(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt;
    fields >> id >> parent >> devno >> root >> mnt;
    // mountinfo escapes spaces etc. as \040; our paths never contain them.
    if (mnt == path || (mnt.size() > path.size() && mnt.compare(0, path.size(), path) == 0 &&
                        (path == "/" || mnt[path.size()] == '/'))) {
      out.push_back(mnt);
    }
  }
  return out;
}

// Remounts one bind mount with nosuid, nodev and (when `read_only`) read-only.
Status RemountOne(const std::string& path, bool read_only) { return remount::Bind(path.c_str(), read_only, kStage); }

// mount_setattr(RDONLY?|NOSUID|NODEV) with the MS_REMOUNT fallback.
Status SetAttrs(const std::string& path, bool recursive, bool read_only) {
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (read_only) attr.attr_set |= MOUNT_ATTR_RDONLY;
  unsigned flags = recursive ? AT_RECURSIVE : 0;
  if (syscall(SYS_mount_setattr, AT_FDCWD, path.c_str(), flags, &attr, sizeof attr) == 0) {
    return Status::Ok();
  }
  // ENOSYS: kernel before 5.12. EINVAL/EPERM: an attribute we may not set on
  // some locked mount; the remount below keeps the locked ones and only adds
  // ours.
  if (errno != ENOSYS && errno != EINVAL && errno != EPERM) {
    return SysError(kStage, "mount_setattr(" + path + (recursive ? ", AT_RECURSIVE" : "") +
                                (read_only ? ", RDONLY|NOSUID|NODEV)" : ", NOSUID|NODEV)"));
  }
  if (!recursive) return RemountOne(path, read_only);
  for (const auto& m : MountsUnder(path)) {
    if (Status s = RemountOne(m, read_only); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

Status MakeRootSlave() {
  if (mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) {
    return SysError(kStage, "mount(NULL, /, NULL, MS_SLAVE|MS_REC)");
  }
  return Status::Ok();
}

Result<std::vector<int>> OpenSources(const std::vector<std::string>& sources) {
  std::vector<int> fds;
  for (const auto& src : sources) {
    int fd = open(src.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      Status s = SysError(kStage, "open(" + src + ", O_PATH|O_NOFOLLOW)");
      for (int f : fds) close(f);
      return s;
    }
    fds.push_back(fd);
  }
  return fds;
}

Status MountTmpfs(const std::string& target, uint64_t size_bytes, unsigned mode,
                  unsigned long flags) {
  // nr_inodes as the runs' /tmp has it (child_setup.tmp_options): size= does
  // not count inodes, whose kernel memory is otherwise capped only by RAM.
  const unsigned long long inodes = std::max<unsigned long long>(1024, size_bytes / 1024);
  char data[96];
  std::snprintf(data, sizeof data, "size=%llu,nr_inodes=%llu,mode=%o", static_cast<unsigned long long>(size_bytes),
                inodes, mode);
  if (mount("tmpfs", target.c_str(), "tmpfs", flags, data) < 0) {
    return SysError(kStage, "mount(tmpfs, " + target + ", tmpfs, " + Hex(flags) + ", " + data + ")");
  }
  return Status::Ok();
}

Status PivotToBase(const std::string& base) {
  if (chdir(base.c_str()) < 0) return SysError(kStage, "chdir(" + base + ")");
  for (const char* d : {"oldroot", "newroot"}) {
    if (mkdir(d, 0755) < 0) return SysError(kStage, std::string("mkdir(") + base + "/" + d + ")");
  }
  if (syscall(SYS_pivot_root, ".", "oldroot") < 0) {
    return SysError(kStage, "pivot_root(" + base + ", " + base + "/oldroot)");
  }
  if (chdir("/") < 0) return SysError(kStage, "chdir(/)");
  return Status::Ok();
}

Status MkdirAll(const std::string& path, unsigned mode) {
  std::string cur;
  std::istringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    if (mkdir(cur.c_str(), mode) < 0 && errno != EEXIST) return SysError(kStage, "mkdir(" + cur + ")");
  }
  return Status::Ok();
}

Status Symlink(const std::string& target, const std::string& path) {
  if (Status s = MkdirAll(Parent(path), 0755); !s.ok()) return s;
  if (symlink(target.c_str(), path.c_str()) < 0) {
    return SysError(kStage, "symlink(" + target + ", " + path + ")");
  }
  return Status::Ok();
}

Status Bind(int src_fd, const std::string& src_name, const std::string& dst, const std::string& proc,
            bool read_only) {
  struct stat st {};
  if (fstat(src_fd, &st) < 0) return SysError(kStage, "fstat(" + src_name + ")");
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlinkat(src_fd, "", target, sizeof target - 1);
    if (n < 0) return SysError(kStage, "readlinkat(" + src_name + ")");
    target[n] = '\0';
    return Symlink(target, dst);
  }
  if (Status s = MkdirAll(S_ISDIR(st.st_mode) ? dst : Parent(dst), 0755); !s.ok()) return s;
  if (!S_ISDIR(st.st_mode)) {
    if (Status s = CreateFile(dst); !s.ok()) return s;
  }
  // The fd was opened in this mount namespace, so its magic link names a
  // mount we may bind from, without walking the host path again.
  std::string via = proc + "/self/fd/" + std::to_string(src_fd);
  if (mount(via.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
    return SysError(kStage, "mount(" + src_name + " via " + via + ", " + dst + ", NULL, MS_BIND|MS_REC)");
  }
  return SetAttrs(dst, /*recursive=*/true, read_only);
}

Status BindReadOnly(int src_fd, const std::string& src_name, const std::string& dst,
                    const std::string& proc) {
  return Bind(src_fd, src_name, dst, proc, /*read_only=*/true);
}

Status MakeReadOnly(const std::string& path, bool recursive) {
  return SetAttrs(path, recursive, /*read_only=*/true);
}

Status RebindReadOnly(const std::string& path) {
  if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
    return SysError(kStage, "mount(" + path + ", " + path + ", NULL, MS_BIND|MS_REC)");
  }
  return SetAttrs(path, /*recursive=*/true, /*read_only=*/true);
}

Status Mask(const std::string& path, const std::string& null_node) {
  struct stat st {};
  if (lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return Status::Ok();  // nothing to hide on this kernel or host
    return SysError(kStage, "lstat(" + path + ")");
  }
  if (S_ISDIR(st.st_mode)) {
    const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount("tmpfs", path.c_str(), "tmpfs", flags, "size=4096,mode=0555") < 0) {
      return SysError(kStage, "mount(tmpfs, " + path + ", tmpfs, " + Hex(flags) + ", size=4096,mode=0555)");
    }
    return Status::Ok();
  }
  if (S_ISLNK(st.st_mode)) return Status::Ok();  // points into the jail's own tree, or nowhere
  if (mount(null_node.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    return SysError(kStage, "mount(" + null_node + ", " + path + ", NULL, MS_BIND)");
  }
  return SetAttrs(path, /*recursive=*/false, /*read_only=*/true);
}

Status MountProc(const std::string& target) {
  if (Status s = MkdirAll(target, 0555); !s.ok()) return s;
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount("proc", target.c_str(), "proc", flags, nullptr) < 0) {
    return SysError(kStage, "mount(proc, " + target + ", proc, MS_NOSUID|MS_NODEV|MS_NOEXEC)");
  }
  return Status::Ok();
}

Status BindDevNode(const std::string& host_node, const std::string& dst) {
  if (Status s = CreateFile(dst); !s.ok()) return s;
  // A tmpfs made inside a user namespace is nodev; a bind of the host node
  // keeps the host mount's flags, so the node works.
  if (mount(host_node.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    return SysError(kStage, "mount(" + host_node + ", " + dst + ", NULL, MS_BIND)");
  }
  return Status::Ok();
}

Status PivotToNewRoot(const std::string& newroot) {
  if (chdir(newroot.c_str()) < 0) return SysError(kStage, "chdir(" + newroot + ")");
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching
  // "." then removes it (with /oldroot under it) and leaves the new root.
  if (syscall(SYS_pivot_root, ".", ".") < 0) return SysError(kStage, "pivot_root(" + newroot + ", .)");
  if (umount2(".", MNT_DETACH) < 0) return SysError(kStage, "umount2(old root, MNT_DETACH)");
  if (chdir("/") < 0) return SysError(kStage, "chdir(/)");
  return Status::Ok();
}

}  // namespace pycage::jail::mount_ns
