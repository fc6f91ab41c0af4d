// Each run's own confinement in the reduced tier: no namespace to enter, so
// a fork of the warm interpreter narrows its zygote's Landlock domain to its
// own scratch directory and installs the run filter. The zygote made the
// run its own session first (the filter then refuses setsid and setpgid, so
// the run's processes stay in that group and die with it).
//   run: no-new-privs, landlock-filesystem, apply-seccomp.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace pycage::jail::reduced_run {

struct Spec {
  std::vector<int> read_fds;   // O_PATH fds the run may read and execute beneath
  std::vector<int> write_fds;  // its scratch directory and /dev/null: all it may write
  const sock_filter* filter = nullptr;
  size_t filter_len = 0;
};

// One line per step, as run_jail::FormatPlan (for --print-plan).
std::string FormatPlan();

// Runs the steps in order; the first failure stops and is returned.
Status Execute(const Spec& spec);

}  // namespace pycage::jail::reduced_run
