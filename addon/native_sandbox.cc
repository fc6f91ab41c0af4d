#include "native_sandbox.h"

#include "convert.h"
#include "js_errors.h"

namespace pycage::addon {
namespace {

// Stops the supervisor and waits for its thread: every child is dead after
// this. Used when JS drops the object unclosed and at environment teardown.
void StopSupervisor(SandboxState* state) {
  if (!state->supervisor) return;
  state->supervisor->Shutdown(nullptr);
  state->supervisor->Join();
  state->supervisor.reset();
}

void OnEnvironmentTeardown(void* data) {
  auto* state = static_cast<SandboxState*>(data);
  state->cleanup_hook_armed = false;
  StopSupervisor(state);
}

void DisarmCleanupHook(SandboxState* state) {
  if (!state->cleanup_hook_armed) return;
  state->cleanup_hook_armed = false;
  napi_remove_env_cleanup_hook(state->env, &OnEnvironmentTeardown, state);
}

}  // namespace

void CallJs(Napi::Env env, Napi::Function /*callback*/, SandboxState* state, Event* event) {
  std::unique_ptr<Event> owned(event);
  if (env == nullptr || state == nullptr) return;  // torn down: just free the event
  switch (event->kind) {
    case Event::Kind::kOutcome: {
      auto it = state->pending.find(event->outcome.id);
      if (it == state->pending.end()) return;
      Napi::Promise::Deferred deferred = it->second;
      state->pending.erase(it);
      if (--state->in_flight == 0 && !state->closing) state->events.Unref(env);
      if (!event->outcome.rejection.ok()) {
        deferred.Reject(MakePycageError(env, state->error_class, event->outcome.rejection));
      } else {
        deferred.Resolve(OutcomeToJs(env, event->outcome));
      }
      return;
    }
    case Event::Kind::kLog:
      if (!state->on_log.IsEmpty()) {
        state->on_log.Call({Napi::String::New(env, event->line)});
        if (env.IsExceptionPending()) env.GetAndClearPendingException();  // a throwing listener must not kill runs
      }
      return;
    case Event::Kind::kRestart:
      if (!state->on_restart.IsEmpty()) {
        state->on_restart.Call({Napi::String::New(env, event->line)});
        if (env.IsExceptionPending()) env.GetAndClearPendingException();
      }
      return;
    case Event::Kind::kClosed: {
      if (state->supervisor) state->supervisor->Join();  // the thread is on its way out
      state->supervisor.reset();
      DisarmCleanupHook(state);
      if (state->close_deferred) {
        state->close_deferred->Resolve(env.Undefined());
        state->close_deferred.reset();
      }
      if (state->owner != nullptr) state->owner->ForgetState();
      state->owner = nullptr;
      state->events.Release();  // the finalizer frees the state
      return;
    }
  }
}

Napi::Function NativeSandbox::DefineClass(Napi::Env env) {
  return ObjectWrap<NativeSandbox>::DefineClass(env, "NativeSandbox",
                                                {InstanceMethod<&NativeSandbox::Run>("run"),
                                                 InstanceMethod<&NativeSandbox::Cancel>("cancel"),
                                                 InstanceMethod<&NativeSandbox::CloseSession>("closeSession"),
                                                 InstanceMethod<&NativeSandbox::Close>("close")});
}

NativeSandbox::NativeSandbox(const Napi::CallbackInfo& info) : ObjectWrap<NativeSandbox>(info) {
  Napi::Env env = info.Env();
  auto state = std::make_unique<SandboxState>();
  state->env = env;
  if (info.Length() > 1 && info[1].IsFunction()) state->error_class = Napi::Persistent(info[1].As<Napi::Function>());
  auto fail = [&](const Status& status) {
    Napi::Value error = MakePycageError(env, state->error_class, status);
    napi_throw(env, error);
  };
  if (info.Length() < 1 || !info[0].IsObject()) {
    fail(Status::Error(ErrorCode::kInvalidArgument, "Expected object for the native config"));
    return;
  }
  const auto config_object = info[0].As<Napi::Object>();
  auto config = ConfigFromJs(config_object);
  if (!config.ok()) {
    fail(config.status());
    return;
  }
  const Napi::Value on_log = config_object.Get("onLog");
  if (on_log.IsFunction()) state->on_log = Napi::Persistent(on_log.As<Napi::Function>());
  const Napi::Value on_restart = config_object.Get("onRestart");
  if (on_restart.IsFunction()) state->on_restart = Napi::Persistent(on_restart.As<Napi::Function>());

  SandboxState* raw = state.release();
  raw->events = EventChannel::New(env, "pycage.supervisor", 0, 1, raw,
                                  [](Napi::Env, void*, SandboxState* finalized) {
                                    // At teardown this may run before the object's own finalizer.
                                    if (finalized->owner != nullptr) finalized->owner->ForgetState();
                                    StopSupervisor(finalized);
                                    delete finalized;
                                  });
  // Idle sandboxes must not keep the host process alive.
  raw->events.Unref(env);
  state_ = raw;
  raw->owner = this;

  config->on_outcome = [raw](RunOutcome outcome) {
    raw->events.NonBlockingCall(new Event{Event::Kind::kOutcome, std::move(outcome), {}});
  };
  config->on_log = [raw](std::string line) {
    raw->events.NonBlockingCall(new Event{Event::Kind::kLog, {}, std::move(line)});
  };
  config->on_restart = [raw](std::string reason) {
    raw->events.NonBlockingCall(new Event{Event::Kind::kRestart, {}, std::move(reason)});
  };
  auto supervisor = Supervisor::Start(std::move(config).value());
  if (!supervisor.ok()) {
    raw->owner = nullptr;
    raw->events.Release();
    state_ = nullptr;
    fail(supervisor.status());
    return;
  }
  raw->supervisor = std::move(supervisor).value();
  napi_add_env_cleanup_hook(env, &OnEnvironmentTeardown, raw);
  raw->cleanup_hook_armed = true;
}

NativeSandbox::~NativeSandbox() {
  if (state_ == nullptr) return;
  state_->owner = nullptr;
  if (!state_->closing) {
    // Collected without close(): kill everything now, then let the channel go.
    StopSupervisor(state_);
    DisarmCleanupHook(state_);
    state_->pending.clear();
    state_->events.Release();
  }
}

Napi::Value NativeSandbox::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (state_ == nullptr || state_->closing || !state_->supervisor) {
    Napi::FunctionReference no_class;
    deferred.Reject(MakePycageError(env, state_ ? state_->error_class : no_class, "ERR_CLOSED",
                                    "the Sandbox is closed; create a new one"));
    return deferred.Promise();
  }
  auto request = RunRequestFromJs(info.Length() > 0 ? info[0] : env.Undefined());
  if (!request.ok()) {
    deferred.Reject(MakePycageError(env, state_->error_class, request.status()));
    return deferred.Promise();
  }
  const uint64_t id = request->id;
  if (state_->pending.count(id) != 0) {
    deferred.Reject(MakePycageError(env, state_->error_class, "ERR_INVALID_ARGUMENT",
                                    "run request.id " + std::to_string(id) + " is already in flight"));
    return deferred.Promise();
  }
  const Status submitted = state_->supervisor->Submit(std::move(request).value());
  if (!submitted.ok()) {
    deferred.Reject(MakePycageError(env, state_->error_class, submitted));
    return deferred.Promise();
  }
  state_->pending.emplace(id, deferred);
  if (state_->in_flight++ == 0) state_->events.Ref(env);
  return deferred.Promise();
}

Napi::Value NativeSandbox::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::FunctionReference no_class;
    napi_throw(env, MakePycageError(env, state_ ? state_->error_class : no_class,
                                    "ERR_INVALID_ARGUMENT", "Expected run id (number) for cancel()"));
    return env.Undefined();
  }
  const auto id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  if (state_ == nullptr || !state_->supervisor || state_->pending.count(id) == 0) return Napi::Boolean::New(env, false);
  state_->supervisor->Cancel(id);
  return Napi::Boolean::New(env, true);
}

Napi::Value NativeSandbox::CloseSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  const Status valid = SessionNameFromJs(info.Length() > 0 ? info[0] : env.Undefined(), &name);
  if (!valid.ok()) {
    Napi::FunctionReference no_class;
    napi_throw(env, MakePycageError(env, state_ ? state_->error_class : no_class, valid));
    return env.Undefined();
  }
  if (state_ == nullptr || state_->closing || !state_->supervisor) return Napi::Boolean::New(env, false);
  state_->supervisor->CloseSession(std::move(name));
  return Napi::Boolean::New(env, true);
}

Napi::Value NativeSandbox::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (state_ == nullptr || state_->closing) {
    // Already closing or closed: settle once the first close has (or now).
    if (state_ != nullptr && state_->close_deferred) {
      Napi::Promise::Deferred first = *state_->close_deferred;
      Napi::Object then_target = first.Promise();
      return then_target;
    }
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  state_->closing = true;
  state_->close_deferred = deferred;
  state_->events.Ref(env);  // keep the loop alive until the children are gone
  SandboxState* state = state_;
  state->supervisor->Shutdown([state] { state->events.NonBlockingCall(new Event{Event::Kind::kClosed, {}, {}}); });
  return deferred.Promise();
}

}  // namespace pycage::addon
