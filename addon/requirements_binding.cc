#include "requirements_binding.h"

#include "addon_data.h"
#include "requirements/requirements.h"

namespace pycage::addon {

Napi::Value ParseRequirementsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    return ThrowInvalidArgument(env, "Expected string for requirementsText");
  }
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  Result<requirements::RequirementSet> parsed = requirements::ParseRequirements(text);
  if (!parsed.ok()) return ThrowStatus(env, parsed.status());
  Napi::Object out = Napi::Object::New(env);
  out.Set("canonical", requirements::CanonicalText(*parsed));
  Napi::Array list = Napi::Array::New(env, parsed->requirements.size());
  for (size_t i = 0; i < parsed->requirements.size(); ++i) {
    const requirements::Requirement& r = parsed->requirements[i];
    Napi::Object item = Napi::Object::New(env);
    item.Set("name", r.name);
    item.Set("normalizedName", r.normalized_name);
    item.Set("specifier", r.specifier);
    item.Set("marker", r.marker);
    item.Set("line", Napi::Number::New(env, static_cast<double>(r.line)));
    list.Set(static_cast<uint32_t>(i), item);
  }
  out.Set("requirements", list);
  return out;
}

Napi::Value SetErrorClassJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "Expected the PycageError class").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  DataOf(env).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace pycage::addon
