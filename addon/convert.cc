#include "convert.h"

#include <cmath>
#include <functional>
#include <limits>

namespace pycage::addon {
namespace {

constexpr uint64_t kMaxSessions = 10'000;
constexpr size_t kMaxSessionNameBytes = 64;

Status Invalid(const std::string& message) { return Status::Error(ErrorCode::kInvalidArgument, message); }

std::string Describe(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return std::string(value.As<Napi::Boolean>().Value() ? "true" : "false") + " of type boolean";
    case napi_number: {
      const double number = value.As<Napi::Number>().DoubleValue();
      std::string text = std::isfinite(number) ? std::to_string(number) : (std::isnan(number) ? "NaN" : "Infinity");
      return text + " of type number";
    }
    case napi_string: return "a string";
    case napi_object: return value.IsArray() ? "an array" : "an object";
    case napi_function: return "a function";
    default: return "a value of another type";
  }
}

Status ReadString(const Napi::Object& object, const char* key, const std::string& where, std::string* out,
                  bool allow_empty = false) {
  const Napi::Value value = object.Get(key);
  if (!value.IsString()) return Invalid("Expected string for " + where + key + " but received " + Describe(value));
  *out = value.As<Napi::String>().Utf8Value();
  if (!allow_empty && out->empty()) return Invalid("Expected non-empty string for " + where + key);
  return Status::Ok();
}

Status ReadPositive(const Napi::Object& object, const char* key, const std::string& where, uint64_t* out,
                    uint64_t max = (1ULL << 53)) {
  const Napi::Value value = object.Get(key);
  const std::string field = where + key;
  if (!value.IsNumber()) return Invalid("Expected positive integer for " + field + " but received " + Describe(value));
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number < 1 || number != std::floor(number) || number > static_cast<double>(max)) {
    return Invalid("Expected positive integer no larger than " + std::to_string(max) + " for " + field +
                   " but received " + Describe(value));
  }
  *out = static_cast<uint64_t>(number);
  return Status::Ok();
}

// An optional array of strings, each checked by `valid` (which says why not).
Status ReadStringList(const Napi::Object& object, const char* key, const std::string& where,
                      const std::function<std::string(const std::string&)>& valid, std::vector<std::string>* out) {
  const Napi::Value value = object.Get(key);
  if (value.IsUndefined()) return Status::Ok();
  if (!value.IsArray()) return Invalid("Expected array of strings for " + where + key + " but received " + Describe(value));
  const auto array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    const std::string field = where + key + "[" + std::to_string(i) + "]";
    if (!item.IsString()) return Invalid("Expected string for " + field + " but received " + Describe(item));
    std::string text = item.As<Napi::String>().Utf8Value();
    if (std::string why = valid(text); !why.empty()) return Invalid("Invalid " + field + ": " + std::move(why));
    out->push_back(std::move(text));
  }
  return Status::Ok();
}

// "SRC:DST", both absolute; the jail side under /pycage/ so a bundle can
// never shadow a system directory.
// "/host/path:/pycage/name" (a bind, full tier) or "/host/path" (granted
// where it is, reduced tier).
std::string CheckBind(const std::string& bind) {
  const size_t colon = bind.find(':');
  if (colon == std::string::npos) {
    if (bind.empty() || bind[0] != '/' || bind.find('\0') != std::string::npos) {
      return "expected \"/host/path:/pycage/name\" or \"/host/path\"";
    }
    return "";
  }
  if (bind[0] != '/' || bind.compare(colon + 1, 8, "/pycage/") != 0) {
    return "expected \"/host/path:/pycage/name\" or \"/host/path\"";
  }
  if (bind.find(':', colon + 1) != std::string::npos || bind.find('\0') != std::string::npos) return "a path contains ':'";
  return "";
}

std::string CheckEnv(const std::string& variable) {
  const size_t eq = variable.find('=');
  if (eq == std::string::npos || variable.compare(0, 7, "PYCAGE_") != 0) {
    return "expected \"PYCAGE_NAME=value\"";
  }
  for (size_t i = 0; i < eq; ++i) {
    const char c = variable[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return "the name has a character outside [A-Z0-9_]";
  }
  return "";
}

// Session names are the JS layer's own tokens; they travel in control frames,
// so keep them short and printable.
Status ReadSessionName(const Napi::Object& object, std::string* out) {
  const Napi::Value value = object.Get("session");
  if (value.IsUndefined() || value.IsNull()) return Status::Ok();
  if (!value.IsString()) return Invalid("Expected string for run request.session but received " + Describe(value));
  std::string name = value.As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() > kMaxSessionNameBytes) {
    return Invalid("Expected run request.session of 1 to " + std::to_string(kMaxSessionNameBytes) + " bytes");
  }
  for (const char c : name) {
    if (c < 0x21 || c > 0x7e) return Invalid("Expected printable ASCII without spaces in run request.session");
  }
  *out = std::move(name);
  return Status::Ok();
}

}  // namespace

Status SessionNameFromJs(const Napi::Value& value, std::string* out) {
  if (!value.IsString()) return Invalid("Expected string for the session name but received " + Describe(value));
  Napi::Object holder = Napi::Object::New(value.Env());
  holder.Set("session", value);
  if (Status s = ReadSessionName(holder, out); !s.ok()) return s;
  return Status::Ok();
}

Result<SupervisorConfig> ConfigFromJs(const Napi::Object& object) {
  SupervisorConfig config;
  const std::string where = "native config.";
  if (Status s = ReadString(object, "helperPath", where, &config.helper_path); !s.ok()) return s;
  if (Status s = ReadString(object, "runnerDir", where, &config.runner_dir); !s.ok()) return s;
  if (Status s = ReadString(object, "python", where, &config.python); !s.ok()) return s;
  for (const std::string* path : {&config.helper_path, &config.runner_dir, &config.python}) {
    if ((*path)[0] != '/') return Invalid("Expected absolute path in native config but received '" + *path + "'");
  }
  const Napi::Value prefixes = object.Get("pythonPrefixes");
  if (!prefixes.IsArray()) return Invalid("Expected array for native config.pythonPrefixes but received " + Describe(prefixes));
  const auto array = prefixes.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    if (!item.IsString() || item.As<Napi::String>().Utf8Value().rfind('/', 0) != 0) {
      return Invalid("Expected absolute path for native config.pythonPrefixes[" + std::to_string(i) + "] but received " +
                     Describe(item));
    }
    config.python_prefixes.push_back(item.As<Napi::String>().Utf8Value());
  }
  std::string isolation;
  if (Status s = ReadString(object, "isolation", where, &isolation); !s.ok()) return s;
  if (const IsolationProfile* profile = ProfileNamed(isolation); profile != nullptr) config.tier = profile->tier;
  else return Invalid("Expected 'full', 'reduced' or 'bypass' for native config.isolation but received '" + isolation + "'");
  uint64_t number = 0;
  if (Status s = ReadPositive(object, "concurrency", where, &number, 64); !s.ok()) return s;
  config.concurrency = number;
  if (Status s = ReadPositive(object, "maxQueue", where, &number, 1'000'000); !s.ok()) return s;
  config.max_queue = number;
  if (object.Has("zygoteIdleMs") && !object.Get("zygoteIdleMs").IsUndefined()) {
    if (Status s = ReadPositive(object, "zygoteIdleMs", where, &number); !s.ok()) return s;
    config.zygote_idle_ms = number;
  }
  if (!object.Get("maxSessions").IsUndefined()) {
    if (Status s = ReadPositive(object, "maxSessions", where, &number, kMaxSessions); !s.ok()) return s;
    config.max_sessions = number;
  }
  if (Status s = ReadStringList(object, "extraBinds", where, &CheckBind, &config.extra_ro_binds); !s.ok()) return s;
  if (Status s = ReadStringList(object, "extraEnv", where, &CheckEnv, &config.extra_env); !s.ok()) return s;
  if (!object.Get("cgroupRoot").IsUndefined()) {
    if (Status s = ReadString(object, "cgroupRoot", where, &config.cgroup_root); !s.ok()) return s;
    if (config.cgroup_root[0] != '/') return Invalid("Expected absolute path for native config.cgroupRoot");
    if (Status s = ReadPositive(object, "cgroupPidsMax", where, &config.cgroup_pids_max); !s.ok()) return s;
    if (Status s = ReadPositive(object, "cgroupMemoryMax", where, &config.cgroup_memory_max); !s.ok()) return s;
  }
  return config;
}

Result<RunRequest> RunRequestFromJs(const Napi::Value& value) {
  if (!value.IsObject()) return Invalid("Expected object for the run request but received " + Describe(value));
  const auto object = value.As<Napi::Object>();
  RunRequest request;
  const std::string where = "run request.";
  if (Status s = ReadPositive(object, "id", where, &request.id); !s.ok()) return s;
  if (Status s = ReadString(object, "code", where, &request.code, true); !s.ok()) return s;
  if (Status s = ReadString(object, "inputsJson", where, &request.inputs_json); !s.ok()) return s;
  if (request.inputs_json.front() != '{') {
    return Invalid("Expected a JSON object text for run request.inputsJson (inputs must be an object)");
  }
  const Napi::Value limits_value = object.Get("limits");
  if (!limits_value.IsObject()) return Invalid("Expected object for run request.limits but received " + Describe(limits_value));
  const auto limits = limits_value.As<Napi::Object>();
  const std::string lw = "limits.";
  RunLimits& l = request.limits;
  // Every limit of native/limits.json is required here: JS fills them all in.
#define PYCAGE_LIMIT_READ(member, key, fallback) \
  if (Status s = ReadPositive(limits, key, lw, &l.member); !s.ok()) return s;
  PYCAGE_RUN_LIMITS(PYCAGE_LIMIT_READ)
#undef PYCAGE_LIMIT_READ
  // The frame length is a u32 and the result must fit one frame.
  if (l.result_bytes > (1ULL << 30)) return Invalid("Expected limits.resultBytes of at most 1 GiB");
  if (Status s = ReadSessionName(object, &request.session); !s.ok()) return s;
  return request;
}

Napi::Object OutcomeToJs(Napi::Env env, const RunOutcome& outcome) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("status", Napi::String::New(env, outcome.ok ? "ok" : "error"));
  object.Set("resultJson", outcome.ok ? Napi::Value(Napi::String::New(env, outcome.result_json)) : env.Null());
  object.Set("stdout", Napi::String::New(env, outcome.stdout_data));
  object.Set("stderr", Napi::String::New(env, outcome.stderr_data));
  object.Set("truncatedStdout", Napi::Boolean::New(env, outcome.truncated_stdout));
  object.Set("truncatedStderr", Napi::Boolean::New(env, outcome.truncated_stderr));
  if (outcome.error) {
    Napi::Object error = Napi::Object::New(env);
    error.Set("type", Napi::String::New(env, outcome.error->type));
    error.Set("message", Napi::String::New(env, outcome.error->message));
    error.Set("traceback", Napi::String::New(env, outcome.error->traceback));
    error.Set("line", outcome.error->line ? Napi::Value(Napi::Number::New(env, *outcome.error->line)) : env.Null());
    object.Set("error", error);
  } else {
    object.Set("error", env.Null());
  }
  Napi::Array figures = Napi::Array::New(env, outcome.figures.size());
  for (uint32_t i = 0; i < outcome.figures.size(); ++i) {
    Napi::Object figure = Napi::Object::New(env);
    figure.Set("type", Napi::String::New(env, outcome.figures[i].type));
    figure.Set("data", Napi::String::New(env, outcome.figures[i].data));
    figures.Set(i, figure);
  }
  object.Set("figures", figures);
  object.Set("truncatedFigures", Napi::Boolean::New(env, outcome.truncated_figures));
  Napi::Array audit = Napi::Array::New(env, outcome.audit.size());
  for (uint32_t i = 0; i < outcome.audit.size(); ++i) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("kind", Napi::String::New(env, outcome.audit[i].kind));
    entry.Set("name", Napi::String::New(env, outcome.audit[i].name));
    entry.Set("message", Napi::String::New(env, outcome.audit[i].message));
    audit.Set(i, entry);
  }
  object.Set("audit", audit);
  Napi::Array imported = Napi::Array::New(env, outcome.imported.size());
  for (uint32_t i = 0; i < outcome.imported.size(); ++i) imported.Set(i, Napi::String::New(env, outcome.imported[i]));
  object.Set("imported", imported);
  object.Set("wallMs", Napi::Number::New(env, outcome.wall_ms));
  object.Set("cpuMs", Napi::Number::New(env, outcome.cpu_ms));
  object.Set("peakMemoryKb", Napi::Number::New(env, static_cast<double>(outcome.peak_memory_kb)));
  object.Set("sessionStarted", Napi::Boolean::New(env, outcome.session_started));
  object.Set("queueMs", Napi::Number::New(env, outcome.queue_ms));
  object.Set("coldStart", Napi::Boolean::New(env, outcome.cold_start));
  return object;
}

}  // namespace pycage::addon
