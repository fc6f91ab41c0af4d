#include "jail/remount.h"

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cstdio>

#include "jail/sys_error.h"

namespace pycage::jail::remount {

Status Bind(const char* path, bool read_only, const char* stage) {
  struct statvfs sv {};
  if (statvfs(path, &sv) < 0) return SysError(stage, std::string("statvfs(") + path + ")");
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
  if (read_only) flags |= MS_RDONLY;
  const struct {
    unsigned long st, ms;
  } kMap[] = {{ST_NOSUID, MS_NOSUID},         {ST_NODEV, MS_NODEV},     {ST_NOEXEC, MS_NOEXEC},
              {ST_NOATIME, MS_NOATIME},       {ST_NODIRATIME, MS_NODIRATIME},
              {ST_RELATIME, MS_RELATIME},     {ST_RDONLY, MS_RDONLY}};
  for (const auto& m : kMap) {
    if (sv.f_flag & m.st) flags |= m.ms;
  }
  if (mount(nullptr, path, nullptr, flags, nullptr) < 0) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%lx", flags);
    return SysError(stage, std::string("mount(NULL, ") + path + ", NULL, " + hex + ")");
  }
  return Status::Ok();
}

}  // namespace pycage::jail::remount
