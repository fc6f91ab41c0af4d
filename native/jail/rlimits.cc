#include "jail/rlimits.h"

#include "jail/sys_error.h"

namespace pycage::jail::rlimits {

Status Set(int resource, const char* name, rlim_t soft, rlim_t hard) {
  rlimit lim{soft, hard};
  if (setrlimit(resource, &lim) < 0) {
    return SysError("rlimits", std::string("setrlimit(") + name + ", " + std::to_string(soft) +
                                   ", " + std::to_string(hard) + ")");
  }
  return Status::Ok();
}

Status NoCoreDumps() { return Set(RLIMIT_CORE, "RLIMIT_CORE", 0, 0); }

Status SetByName(const std::string& name, uint64_t value) {
  for (const Option& o : kOptions) {
    if (name == o.name) return Set(o.resource, o.name, static_cast<rlim_t>(value), static_cast<rlim_t>(value));
  }
  return PlainError("rlimits", "unknown limit " + name);
}

}  // namespace pycage::jail::rlimits
