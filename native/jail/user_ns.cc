#include "jail/user_ns.h"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include "jail/sys_error.h"

namespace pycage::jail::user_ns {
namespace {

Status WriteProcFile(pid_t child, const char* name, const std::string& text, const char* stage) {
  std::string path = "/proc/" + std::to_string(child) + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return SysError(stage, "open(" + path + ", O_WRONLY)");
  // The kernel takes a map in a single write() and refuses a second one.
  ssize_t n = write(fd, text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) {
    if (n >= 0) errno = EIO;
    Status s = SysError(stage, "write(" + path + ", \"" + text + "\")");
    close(fd);
    return s;
  }
  close(fd);
  return Status::Ok();
}

}  // namespace

Status DenySetgroups(pid_t child) { return WriteProcFile(child, "setgroups", "deny", "user_ns"); }

Status WriteIdMap(pid_t child, const char* which, const std::string& line) {
  return WriteProcFile(child, which, line + "\n", "user_ns");
}

Status BecomeRoot() {
  // Fails with EPERM when setgroups is denied (unprivileged map); then the
  // caller's own groups are all the child has anyway.
  if (setgroups(0, nullptr) < 0 && errno != EPERM) return SysError("user_ns", "setgroups(0, NULL)");
  if (setresgid(0, 0, 0) < 0) return SysError("user_ns", "setresgid(0, 0, 0)");
  if (setresuid(0, 0, 0) < 0) return SysError("user_ns", "setresuid(0, 0, 0)");
  return Status::Ok();
}

}  // namespace pycage::jail::user_ns
