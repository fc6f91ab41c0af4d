#include "jail/cgroup2.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "jail/sys_error.h"

namespace pycage::jail::cgroup2 {
namespace {

constexpr const char* kStage = "cgroup2";

std::string Fix(const std::string& root) {
  return "; delegate a cgroup v2 subtree (systemd Delegate=yes) whose cgroup.subtree_control lists pids and "
         "memory and pass it as the cgroup root (here " + root + "), or omit cgroupRoot";
}

Status WithFix(const Status& s, const std::string& root) {
  return Status::Error(s.code(), s.message() + Fix(root));
}

Status WriteFile(const CgroupFs& fs, const std::string& path, const std::string& text) {
  int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW;
  if (fs.plain_directory) flags |= O_CREAT | O_TRUNC;
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) return SysError(kStage, "open(" + path + ", O_WRONLY)");
  // cgroupfs takes each value in one write().
  ssize_t n = write(fd, text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) {
    if (n >= 0) errno = EIO;
    Status s = SysError(kStage, "write(" + path + ", \"" + text.substr(0, text.size() - 1) + "\")");
    close(fd);
    return s;
  }
  close(fd);
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SysError(kStage, "open(" + path + ", O_RDONLY)");
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = SysError(kStage, "read(" + path + ")");
      close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w == word) return true;
  }
  return false;
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Status Validate(const CgroupFs& fs) {
  const std::string& root = fs.root;
  struct statfs sf {};
  if (statfs(root.c_str(), &sf) < 0) return WithFix(SysError(kStage, "statfs(" + root + ")"), root);
  if (fs.check_magic && static_cast<uint64_t>(sf.f_type) != CGROUP2_SUPER_MAGIC) {
    return WithFix(PlainError(kStage, "cgroup root " + root + " is not on a cgroup v2 filesystem (statfs f_type " +
                                          Hex(static_cast<uint64_t>(sf.f_type)) + ", expected " +
                                          Hex(CGROUP2_SUPER_MAGIC) + ")"),
                   root);
  }
  struct stat st {};
  if (stat(root.c_str(), &st) < 0) return WithFix(SysError(kStage, "stat(" + root + ")"), root);
  if (!S_ISDIR(st.st_mode)) {
    return WithFix(PlainError(kStage, "cgroup root " + root + " is not a directory"), root);
  }
  const std::string control = root + "/cgroup.subtree_control";
  auto text = ReadSmallFile(control);
  if (!text.ok()) return WithFix(text.status(), root);
  for (const char* controller : {"pids", "memory"}) {
    if (!HasWord(text.value(), controller)) {
      std::string listed = text.value();
      while (!listed.empty() && (listed.back() == '\n' || listed.back() == ' ')) listed.pop_back();
      std::string message = std::string(kStage) + ": cgroup root " + root;
      message += " does not have the ";
      message += controller;
      message += " controller enabled in ";
      message += control;
      message += " (it lists '";
      message += listed;
      message += "'), so its children get no ";
      message += controller;
      message += ".max; run `echo +";
      message += controller;
      message += " > ";
      message += control;
      message += "` in a delegated cgroup v2 subtree (systemd Delegate=yes), or omit cgroupRoot";
      return Status::Error(ErrorCode::kIsolationUnavailable, message);
    }
  }
  if (access(root.c_str(), W_OK | X_OK) < 0) {
    return WithFix(SysError(kStage, "access(" + root + ", W_OK|X_OK)"), root);
  }
  return Status::Ok();
}

std::string NewName(pid_t helper_pid) {
  uint32_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof r)) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = static_cast<uint32_t>(ts.tv_nsec) ^ static_cast<uint32_t>(ts.tv_sec * 2654435761U);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "pycage-%d-%08x", static_cast<int>(helper_pid), r);
  return buf;
}

Status WriteLimits(const CgroupFs& fs, const std::string& dir, const Limits& limits) {
  if (Status s = WriteFile(fs, dir + "/" + kPidsMax, std::to_string(limits.pids_max) + "\n"); !s.ok()) {
    return WithFix(s, fs.root);
  }
  if (Status s = WriteFile(fs, dir + "/" + kMemoryMax, std::to_string(limits.memory_max) + "\n"); !s.ok()) {
    return WithFix(s, fs.root);
  }
  // Without swap accounting (or on the root cgroup) there is no such file;
  // memory.max then bounds RAM only, as the kernel allows.
  const std::string swap = dir + "/" + kMemorySwapMax;
  if (access(swap.c_str(), F_OK) == 0) {
    if (Status s = WriteFile(fs, swap, "0\n"); !s.ok()) return s;
  }
  return Status::Ok();
}

Result<std::string> Create(const CgroupFs& fs, const std::string& name, const Limits& limits) {
  const std::string dir = fs.root + "/" + name;
  if (mkdir(dir.c_str(), 0755) < 0) return WithFix(SysError(kStage, "mkdir(" + dir + ")"), fs.root);
  if (Status s = WriteLimits(fs, dir, limits); !s.ok()) {
    (void)Remove(fs, dir);  // best effort; the write error is the one to report
    return s;
  }
  return dir;
}

Status Attach(const CgroupFs& fs, const std::string& dir, pid_t pid) {
  Status s = WriteFile(fs, dir + "/" + kProcs, std::to_string(pid) + "\n");
  if (s.ok()) return s;
  return Status::Error(s.code(), s.message() +
                                     "; moving a process needs write access to cgroup.procs of the common "
                                     "ancestor of the caller's cgroup and " + fs.root +
                                     ", so run the caller inside the delegated subtree (systemd Delegate=yes)");
}

Status Remove(const CgroupFs& fs, const std::string& dir) {
  if (fs.plain_directory) {
    for (const char* file : {kPidsMax, kMemoryMax, kMemorySwapMax, kProcs}) {
      (void)unlink((dir + "/" + file).c_str());
    }
  }
  for (int attempt = 0;; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return Status::Ok();
    if (errno != EBUSY || attempt >= 100) return SysError(kStage, "rmdir(" + dir + ")");
    timespec pause{0, 10 * 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
}

Availability Check(const std::string& root) {
  Availability a;
  if (root.empty()) {
    a.reason = "no cgroup root given: set PYCAGE_CGROUP_ROOT (or pass --cgroup-root) to a delegated cgroup v2 "
               "directory whose cgroup.subtree_control lists pids and memory";
    return a;
  }
  Status s = Validate(CgroupFs{root});
  a.available = s.ok();
  a.reason = s.ok() ? root + " is a cgroup v2 directory with pids and memory enabled for its children"
                    : s.message();
  return a;
}

}  // namespace pycage::jail::cgroup2
