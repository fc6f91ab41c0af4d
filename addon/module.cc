// Addon entry point. No static state: everything hangs off the instance, so
// two copies of the addon (or worker threads) can load side by side.
#include <napi.h>

#include "native_sandbox.h"
#include "probe.h"
#include "requirements_binding.h"
#include "store_binding.h"
#include "trial_binding.h"

namespace pycage::addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSandbox", NativeSandbox::DefineClass(env));
  exports.Set("probe", Napi::Function::New(env, &Probe, "probe"));
  exports.Set("probeAsync", Napi::Function::New(env, &ProbeAsync, "probeAsync"));
  exports.Set("trialJail", Napi::Function::New(env, &TrialJail, "trialJail"));
  exports.Set("trialJailAsync", Napi::Function::New(env, &TrialJailAsync, "trialJailAsync"));
  exports.Set("setErrorClass", Napi::Function::New(env, &SetErrorClassJs, "setErrorClass"));
  exports.Set("parseRequirements", Napi::Function::New(env, &ParseRequirementsJs, "parseRequirements"));
  exports.Set("parsePipReport", Napi::Function::New(env, &ParsePipReportJs, "parsePipReport"));
  exports.Set("packDirectory", Napi::Function::New(env, &PackDirectoryJs, "packDirectory"));
  exports.Set("importArchive", Napi::Function::New(env, &ImportArchiveJs, "importArchive"));
  return exports;
}

}  // namespace pycage::addon

static Napi::Object InitPycage(Napi::Env env, Napi::Object exports) { return pycage::addon::Init(env, exports); }

NODE_API_MODULE(pycage, InitPycage)
