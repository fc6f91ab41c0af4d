// Resource limits set by the helper on the jail's first process. Per-run
// limits (CPU, AS, FSIZE, NOFILE, NPROC) are the zygote's job in each run
// child; the --rlimit-* options set a jail-wide soft = hard limit, which the
// installer profile uses for the whole install.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace pycage::jail::rlimits {

Status Set(int resource, const char* name, rlim_t soft, rlim_t hard);
// A jailed process never dumps core: its memory may hold other users' data.
Status NoCoreDumps();

// The limits the helper takes on its command line.
struct Option {
  const char* flag;  // "--rlimit-as"
  const char* name;  // "RLIMIT_AS"
  int resource;
};
inline constexpr Option kOptions[] = {
    {"--rlimit-as", "RLIMIT_AS", RLIMIT_AS},
    {"--rlimit-cpu", "RLIMIT_CPU", RLIMIT_CPU},
    {"--rlimit-fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"--rlimit-nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE},
};

// Sets soft = hard = value for the limit called `name` (one of kOptions).
// Lowering needs no privilege; raising above the current hard limit fails
// with EPERM (the helper has no CAP_SYS_RESOURCE in the host namespace).
Status SetByName(const std::string& name, uint64_t value);

}  // namespace pycage::jail::rlimits
