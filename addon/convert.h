// JS values -> plain structs (validated again here: the C++ boundary never
// trusts the JS layer), and RunOutcome -> JS object.
#pragma once

#include <napi.h>

#include "common/status.h"
#include "supervisor/run_types.h"

namespace pycage::addon {

Result<SupervisorConfig> ConfigFromJs(const Napi::Object& object);
Result<RunRequest> RunRequestFromJs(const Napi::Value& value);
Status SessionNameFromJs(const Napi::Value& value, std::string* out);
Napi::Object OutcomeToJs(Napi::Env env, const RunOutcome& outcome);

}  // namespace pycage::addon
