// Addon entry point. No static state: everything hangs off the instance, so
// two copies of the addon (or worker threads) can load side by side.
#include <napi.h>

#include "native_sandbox.h"
#include "probe.h"

namespace pycage::addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSandbox", NativeSandbox::DefineClass(env));
  exports.Set("probe", Napi::Function::New(env, &Probe, "probe"));
  return exports;
}

}  // namespace pycage::addon

static Napi::Object InitPycage(Napi::Env env, Napi::Object exports) { return pycage::addon::Init(env, exports); }

NODE_API_MODULE(pycage, InitPycage)
