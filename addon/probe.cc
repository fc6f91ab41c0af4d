#include "probe.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace pycage::addon {
namespace {

Napi::Value ThrowInvalid(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARGUMENT"));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowInvalid(env, "Expected string for probe(helperPath)");
  const std::string helper = info[0].As<Napi::String>().Utf8Value();
  if (helper.empty() || helper[0] != '/') return ThrowInvalid(env, "Expected absolute path for probe(helperPath)");

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ThrowInvalid(env, std::string("pipe2: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Optional second argument: the operator's cgroupRoot, checked by the probe.
  std::string cgroup_root;
  if (info.Length() >= 2 && info[1].IsString()) {
    cgroup_root = info[1].As<Napi::String>().Utf8Value();
    if (cgroup_root.empty() || cgroup_root[0] != '/') return ThrowInvalid(env, "Expected absolute path for probe(helperPath, cgroupRoot)");
  }
  std::string arg0 = helper;
  std::string arg1 = "--probe";
  std::string arg2 = "--cgroup-root";
  char* argv[] = {arg0.data(), arg1.data(), cgroup_root.empty() ? nullptr : arg2.data(), cgroup_root.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  // posix_spawn uses vfork semantics: nothing unsafe runs between fork and exec.
  const int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return ThrowInvalid(env, "cannot run " + helper + " --probe: " + std::strerror(rc));
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
  Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
  Napi::Value parsed = json.Get("parse").As<Napi::Function>().Call(json, {Napi::String::New(env, text)});
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    return ThrowInvalid(env, helper + " --probe printed something that is not JSON: " + text.substr(0, 200));
  }
  return parsed;
}

}  // namespace pycage::addon
