#pragma once

#include <napi.h>

namespace pycage::addon {

// parseRequirements(text) -> { canonical, requirements: [{ name, normalizedName, specifier, marker, line }] };
// throws PycageError ERR_REQUIREMENTS_INVALID naming the line. Synchronous:
// the text is at most 64 KiB and parsing it takes microseconds.
Napi::Value ParseRequirementsJs(const Napi::CallbackInfo& info);

// setErrorClass(PycageError): the class the free functions' errors are made of.
Napi::Value SetErrorClassJs(const Napi::CallbackInfo& info);

}  // namespace pycage::addon
