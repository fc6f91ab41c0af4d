// The one flat orchestrator: walks a JailPlan step by step, in the helper,
// then in the parent and the child after clone (nsjail's contain.cc, as data).
#pragma once

#include "jail/jail_plan.h"

namespace pycage::jail {

// Exit code for any setup failure (PROTOCOL.md).
inline constexpr int kSetupFailureExit = 125;

// Runs the plan. Never returns in the process that execs the program; in
// the helper it returns the exit code to use: the child's status (128+signal
// for a signal) or kSetupFailureExit after printing the one-line error.
int RunPlan(const JailPlan& plan);

}  // namespace pycage::jail
