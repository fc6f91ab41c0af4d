// Resource limits set by the helper on the zygote. Per-run limits (CPU, AS,
// FSIZE, NOFILE, NPROC) are the zygote's job in each run child.
#pragma once

#include <sys/resource.h>

#include "common/status.h"

namespace pycage::jail::rlimits {

Status Set(int resource, const char* name, rlim_t soft, rlim_t hard);
// A jailed process never dumps core: its memory may hold other users' data.
Status NoCoreDumps();

}  // namespace pycage::jail::rlimits
