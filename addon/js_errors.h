// Builds the PycageError instances JS sees, from the class JS handed us.
#pragma once

#include <napi.h>

#include <string>

#include "common/status.h"

namespace pycage::addon {

Napi::Value MakePycageError(Napi::Env env, const Napi::FunctionReference& error_class, const char* code,
                            const std::string& message);
Napi::Value MakePycageError(Napi::Env env, const Napi::FunctionReference& error_class, const Status& status);

}  // namespace pycage::addon
