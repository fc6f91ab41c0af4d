#pragma once

#include <napi.h>

namespace pycage::addon {

// trialJail(config) -> { ok, exitCode, signal, timedOut, wallMs, log }: a
// trial of the jail a NativeSandbox of that config would start
// (supervisor/trial_jail.h). Synchronous, for the constructor.
Napi::Value TrialJail(const Napi::CallbackInfo& info);
// trialJailAsync(config) -> Promise of the same, waited for on a job thread.
Napi::Value TrialJailAsync(const Napi::CallbackInfo& info);

}  // namespace pycage::addon
