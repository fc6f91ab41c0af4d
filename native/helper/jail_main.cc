// pycage-jail: parse, plan, run. See native/PROTOCOL.md "The helper".
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "jail/jail_exec.h"
#include "jail/jail_plan.h"
#include "jail/probe.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "pycage-jail: args: %s\n", message.c_str());
  return pycage::jail::kSetupFailureExit;
}

}  // namespace

int Main(int argc, char** argv) {
  using namespace pycage::jail;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = ParseArgs(args);
  if (!options.ok()) return Fail(options.status().message());

  if (options->mode == Mode::kProbe) {
    std::string cgroup_root = options->cgroup_root;
    if (cgroup_root.empty()) {
      const char* from_env = std::getenv("PYCAGE_CGROUP_ROOT");
      if (from_env != nullptr) cgroup_root = from_env;
    }
    std::printf("%s\n", probe::ToJson(probe::Probe(cgroup_root)).c_str());
    return 0;
  }
  auto plan = BuildPlan(options.value(), ProbeHostFacts());
  if (!plan.ok()) return Fail(plan.status().message());
  if (options->mode == Mode::kPrintPlan) {
    std::fputs(FormatPlan(plan.value()).c_str(), stdout);
    return 0;
  }
  std::fflush(nullptr);
  return RunPlan(plan.value());
}

int main(int argc, char** argv) {
  // Nothing is meant to throw; if something does (std::bad_alloc), say so in
  // the helper's one-line format instead of aborting without a word.
  try {
    return Main(argc, argv);
  } catch (const std::exception& error) {
    return Fail(std::string("unexpected exception: ") + error.what());
  } catch (...) {
    return Fail("unexpected exception");
  }
}
