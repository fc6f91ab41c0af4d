#include "common/host_identity.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>

namespace pycage {

bool MapsUids(uint64_t first, uint64_t count) {
  std::ifstream map("/proc/self/uid_map");
  uint64_t inside = 0, outside = 0, length = 0;
  while (map >> inside >> outside >> length) {
    if (first >= inside && first - inside <= length && count <= length - (first - inside)) return true;
  }
  return false;
}

bool HoldsSetIdCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const uint32_t wanted = CAP_TO_MASK(CAP_SETUID) | CAP_TO_MASK(CAP_SETGID);
  return (data[CAP_TO_INDEX(CAP_SETUID)].effective & wanted) == wanted;
}

bool MaySwitchToPoolUids() {
  return geteuid() == 0 && HoldsSetIdCapabilities() && MapsUids(kPoolUidFirst, kPoolUidSpan);
}

}  // namespace pycage
