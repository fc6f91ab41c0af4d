#include "probe.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "background_job.h"
#include "common/status.h"

namespace pycage::addon {
namespace {

Napi::Value ThrowInvalid(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARGUMENT"));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

struct ProbeArgs {
  std::string helper;
  std::string cgroup_root;  // empty: none
};

// Reads (helperPath[, cgroupRoot]); false with a JS exception pending.
bool ReadArgs(const Napi::CallbackInfo& info, const char* name, ProbeArgs* args) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowInvalid(env, std::string("Expected string for ") + name + "(helperPath)");
    return false;
  }
  args->helper = info[0].As<Napi::String>().Utf8Value();
  if (args->helper.empty() || args->helper[0] != '/') {
    ThrowInvalid(env, std::string("Expected absolute path for ") + name + "(helperPath)");
    return false;
  }
  // Optional second argument: the operator's cgroupRoot, checked by the probe.
  if (info.Length() >= 2 && info[1].IsString()) {
    args->cgroup_root = info[1].As<Napi::String>().Utf8Value();
    if (args->cgroup_root.empty() || args->cgroup_root[0] != '/') {
      ThrowInvalid(env, std::string("Expected absolute path for ") + name + "(helperPath, cgroupRoot)");
      return false;
    }
  }
  return true;
}

// Runs `helper --probe` and returns what it printed. Blocking; no N-API, so
// it may run on any thread.
Result<std::string> RunProbe(const ProbeArgs& args) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status::FromErrno(ErrorCode::kInternal, "pipe2", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string arg0 = args.helper;
  std::string arg1 = "--probe";
  std::string arg2 = "--cgroup-root";
  std::string arg3 = args.cgroup_root;
  char* argv[] = {arg0.data(), arg1.data(), arg3.empty() ? nullptr : arg2.data(), arg3.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  // posix_spawn uses vfork semantics: nothing unsafe runs between fork and exec.
  const int rc = posix_spawn(&pid, args.helper.c_str(), &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return Status::Error(ErrorCode::kInternal, "cannot run " + args.helper + " --probe: " + std::strerror(rc));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n > 0) text.append(buffer, static_cast<size_t>(n));
    else if (n < 0 && errno == EINTR) continue;
    else break;
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return text;
}

Napi::Value ParseJson(Napi::Env env, const ProbeArgs& args, const std::string& text) {
  Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
  Napi::Value parsed = json.Get("parse").As<Napi::Function>().Call(json, {Napi::String::New(env, text)});
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    Napi::Error error =
        Napi::Error::New(env, args.helper + " --probe printed something that is not JSON: " + text.substr(0, 200));
    error.Set("code", Napi::String::New(env, "ERR_INTERNAL"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return parsed;
}

}  // namespace

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ProbeArgs args;
  if (!ReadArgs(info, "probe", &args)) return env.Undefined();
  Result<std::string> text = RunProbe(args);
  if (!text.ok()) return ThrowInvalid(env, text.status().message());
  return ParseJson(env, args, text.value());
}

Napi::Value ProbeAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ProbeArgs args;
  if (!ReadArgs(info, "probeAsync", &args)) return env.Undefined();
  return BackgroundJob<std::string>::Start(
      env, "pycage-probe", [args] { return RunProbe(args); },
      // A JSON error is left pending: the job rejects with it.
      [args](Napi::Env job_env, std::string& text) { return ParseJson(job_env, args, text); });
}

}  // namespace pycage::addon
