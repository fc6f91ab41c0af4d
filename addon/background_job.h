// Blocking work (packing, hashing, extracting bundles) on a thread of its own,
// settled as a Promise on the JS thread. Not Napi::AsyncWorker: that runs on
// Node's libuv threadpool, which long jobs must never occupy (docs/ARCHITECTURE.md, "Threads and processes").
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "addon_data.h"
#include "common/status.h"

namespace pycage::addon {

template <typename T>
class BackgroundJob {
 public:
  using Work = std::function<Result<T>()>;
  using ToJs = std::function<Napi::Value(Napi::Env, T&)>;

  // `keep_alive` (a Buffer the work reads, say) stays referenced until the
  // promise settles, so the GC cannot free memory the thread still reads.
  static Napi::Promise Start(Napi::Env env, const char* name, Work work, ToJs to_js,
                             Napi::Value keep_alive = Napi::Value()) {
    auto* job = new BackgroundJob(env, std::move(work), std::move(to_js));
    if (!keep_alive.IsEmpty() && keep_alive.IsObject()) {
      job->keep_alive_ = Napi::Persistent(keep_alive.As<Napi::Object>());
    }
    job->tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), name, 0, 1);
    Napi::Promise promise = job->deferred_.Promise();
    std::thread([job] { job->RunOnThread(); }).detach();
    return promise;
  }

 private:
  BackgroundJob(Napi::Env env, Work work, ToJs to_js)
      : deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), to_js_(std::move(to_js)) {}

  void RunOnThread() {
    result_ = std::make_unique<Result<T>>(work_());
    Napi::ThreadSafeFunction tsfn = tsfn_;
    const napi_status status = tsfn.BlockingCall(this, [](Napi::Env env, Napi::Function, BackgroundJob* self) {
      self->Settle(env);
    });
    // napi_closing: the environment is going away and nobody is left to
    // settle for. The job is leaked on purpose: its JS handles may only be
    // freed on the JS thread, which is gone.
    static_cast<void>(status);
    tsfn.Release();
  }

  void Settle(Napi::Env env) {
    std::unique_ptr<BackgroundJob> owned(this);
    if (!result_->ok()) {
      deferred_.Reject(MakePycageError(env, DataOf(env).error_class, result_->status()));
      return;
    }
    Napi::Value value = to_js_(env, result_->value());
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
      return;
    }
    deferred_.Resolve(value);
  }

  Napi::Promise::Deferred deferred_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::ObjectReference keep_alive_;
  Work work_;
  ToJs to_js_;
  std::unique_ptr<Result<T>> result_;
};

}  // namespace pycage::addon
