// Child side of seccomp: hand precompiled BPF to the kernel. Called as the
// very last step before execve, after NO_NEW_PRIVS, so nothing the jail
// setup itself does has to pass the filter.
#pragma once

#include <linux/filter.h>

#include <cstddef>

#include "common/status.h"
#include "jail/seccomp_policy.h"

namespace pycage::jail {

// Installs `len` instructions. Allocates nothing; returns 0 or an errno.
int InstallBpf(const sock_filter* prog, size_t len);

// Reads a whole filter from an fd (the zygote's fd 4 holds the run filter),
// from offset 0 without moving the file offset.
Result<Bpf> ReadBpf(int fd);

}  // namespace pycage::jail
