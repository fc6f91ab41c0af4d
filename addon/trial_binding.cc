#include "trial_binding.h"

#include "addon_data.h"
#include "background_job.h"
#include "convert.h"
#include "supervisor/trial_jail.h"

namespace pycage::addon {
namespace {

// Long enough for a cold interpreter on a loaded host; a trial that takes
// longer fails as timed out, which names the cause.
constexpr int kTrialTimeoutMs = 30'000;

Napi::Value OutcomeToJs(Napi::Env env, const TrialOutcome& outcome) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", Napi::Boolean::New(env, outcome.ok));
  out.Set("exitCode", Napi::Number::New(env, outcome.exit_code));
  out.Set("signal", Napi::Number::New(env, outcome.term_signal));
  out.Set("timedOut", Napi::Boolean::New(env, outcome.timed_out));
  out.Set("wallMs", Napi::Number::New(env, outcome.wall_ms));
  out.Set("log", Napi::String::New(env, outcome.log));
  return out;
}

// The config as NativeSandbox reads it; false with a JS exception pending.
bool ReadConfig(const Napi::CallbackInfo& info, SupervisorConfig* config) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowStatus(env, Status::Error(ErrorCode::kInvalidArgument, "Expected object for trialJail(config)"));
    return false;
  }
  Result<SupervisorConfig> read = ConfigFromJs(info[0].As<Napi::Object>());
  if (!read.ok()) {
    ThrowStatus(env, read.status());
    return false;
  }
  *config = std::move(read).value();
  return true;
}

}  // namespace

Napi::Value TrialJail(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SupervisorConfig config;
  if (!ReadConfig(info, &config)) return env.Undefined();
  Result<TrialOutcome> outcome = RunTrialJail(config, kTrialTimeoutMs);
  if (!outcome.ok()) {
    ThrowStatus(env, outcome.status());
    return env.Undefined();
  }
  return OutcomeToJs(env, outcome.value());
}

Napi::Value TrialJailAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SupervisorConfig config;
  if (!ReadConfig(info, &config)) return env.Undefined();
  return BackgroundJob<TrialOutcome>::Start(
      env, "pycage-trial-jail", [config] { return RunTrialJail(config, kTrialTimeoutMs); },
      [](Napi::Env job_env, TrialOutcome& outcome) { return OutcomeToJs(job_env, outcome); });
}

}  // namespace pycage::addon
