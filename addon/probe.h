#pragma once

#include <napi.h>

namespace pycage::addon {

// probe(helperPath) -> the helper's --probe JSON, parsed. Synchronous: it
// spawns the helper once (a few ms) so capabilities() can stay synchronous.
Napi::Value Probe(const Napi::CallbackInfo& info);

}  // namespace pycage::addon
