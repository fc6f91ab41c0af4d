// NativeSandbox: the object behind the JS Sandbox. It converts, queues and
// settles; every child, pipe and timer belongs to the Supervisor's thread.
#pragma once

#include <napi.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "supervisor/supervisor.h"

namespace pycage::addon {

// Something the supervisor thread hands to the JS thread.
struct Event {
  enum class Kind { kOutcome, kLog, kRestart, kClosed } kind;
  RunOutcome outcome;
  std::string line;
};

struct SandboxState;
void CallJs(Napi::Env env, Napi::Function callback, SandboxState* state, Event* event);
using EventChannel = Napi::TypedThreadSafeFunction<SandboxState, Event, CallJs>;

// Lives until the thread-safe function is finalized, which is after the last
// event has been delivered (or dropped at teardown), so CallJs never sees a
// dangling state even if the JS object was collected first.
struct SandboxState {
  std::unique_ptr<Supervisor> supervisor;
  EventChannel events;
  Napi::FunctionReference error_class;
  Napi::FunctionReference on_log;
  Napi::FunctionReference on_restart;
  std::map<uint64_t, Napi::Promise::Deferred> pending;
  std::optional<Napi::Promise::Deferred> close_deferred;
  size_t in_flight = 0;
  bool closing = false;
  bool cleanup_hook_armed = false;
  napi_env env = nullptr;
  class NativeSandbox* owner = nullptr;  // cleared when the JS object is collected
};

class NativeSandbox : public Napi::ObjectWrap<NativeSandbox> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit NativeSandbox(const Napi::CallbackInfo& info);
  ~NativeSandbox() override;
  void ForgetState() { state_ = nullptr; }

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value CloseSession(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  SandboxState* state_ = nullptr;
};

}  // namespace pycage::addon
