// Runs a program, collects stdout/stderr and its wait status (tests only).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pycage::jail::testing {

struct Outcome {
  int status = -1;  // raw wait status
  std::string out;
  std::string err;
  bool exited() const;
  int code() const;  // exit code, or -1
  int signal() const;  // terminating signal, or 0
};

// env: the whole environment of the child. timeout_ms: SIGKILL after that.
Outcome Run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
            int timeout_ms = 30000);

}  // namespace pycage::jail::testing
