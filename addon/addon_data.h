// Per-environment addon state (napi instance data, so no static state): the
// PycageError class JS registers once, used by the free functions' errors.
#pragma once

#include <napi.h>

#include "common/status.h"
#include "js_errors.h"

namespace pycage::addon {

struct AddonData {
  Napi::FunctionReference error_class;
};

inline AddonData& DataOf(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) {
    data = new AddonData();
    env.SetInstanceData(data);  // freed by Node at environment teardown
  }
  return *data;
}

// Throws a PycageError built from `status` and returns undefined.
inline Napi::Value ThrowStatus(Napi::Env env, const Status& status) {
  Napi::Value error = MakePycageError(env, DataOf(env).error_class, status);
  Napi::Error(env, error).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowInvalidArgument(Napi::Env env, const std::string& message) {
  return ThrowStatus(env, Status::Error(ErrorCode::kInvalidArgument, message));
}

}  // namespace pycage::addon
