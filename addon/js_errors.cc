#include "js_errors.h"

namespace pycage::addon {

Napi::Value MakePycageError(Napi::Env env, const Napi::FunctionReference& error_class, const char* code,
                            const std::string& message) {
  Napi::Object error;
  if (!error_class.IsEmpty()) {
    error = error_class.New({Napi::String::New(env, message), Napi::String::New(env, code)});
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  if (error.IsEmpty()) error = Napi::Error::New(env, message).Value();
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Value MakePycageError(Napi::Env env, const Napi::FunctionReference& error_class, const Status& status) {
  return MakePycageError(env, error_class, ErrorCodeName(status.code()), status.message());
}

}  // namespace pycage::addon
