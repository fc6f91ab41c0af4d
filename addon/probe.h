#pragma once

#include <napi.h>

namespace pycage::addon {

// probe(helperPath[, cgroupRoot]) -> the helper's --probe JSON, parsed.
// Synchronous: the constructor's fallback when nothing probed this host yet.
Napi::Value Probe(const Napi::CallbackInfo& info);
// probeAsync(helperPath[, cgroupRoot]) -> Promise of the same, with the
// process wait on a thread of its own (Sandbox.create, pycage.probe).
Napi::Value ProbeAsync(const Napi::CallbackInfo& info);

}  // namespace pycage::addon
