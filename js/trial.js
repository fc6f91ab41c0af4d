'use strict';

// The trial jail: a tier is proven on this host by starting it, not guessed
// from the probe. The addon starts the jail a Sandbox of that config would
// start, with a zygote that forks one run child through the per-run plan and
// exits (trialJail; native/supervisor/trial_jail.h). A trial that succeeded
// is remembered for the life of the process, per helper, interpreter, tier
// and cgroup root; a failed one is tried again next time.

const fs = require('node:fs');
const { PycageError, codes } = require('./errors');

// binding -> (config key -> the outcome that proved it)
const proven = new WeakMap();

function cacheKey(config) {
  return JSON.stringify([config.helperPath, config.python, config.pythonPrefixes, config.isolation,
    config.cgroupRoot || null]);
}

function provenFor(binding) {
  let byKey = proven.get(binding);
  if (byKey === undefined) {
    byKey = new Map();
    proven.set(binding, byKey);
  }
  return byKey;
}

function runSync(binding, config) {
  const byKey = provenFor(binding);
  const key = cacheKey(config);
  if (byKey.has(key)) return byKey.get(key);
  const outcome = binding.trialJail(config);
  if (outcome.ok) byKey.set(key, outcome);
  return outcome;
}

async function runAsync(binding, config) {
  const byKey = provenFor(binding);
  const key = cacheKey(config);
  if (byKey.has(key)) return byKey.get(key);
  const outcome = await binding.trialJailAsync(config);
  if (outcome.ok) byKey.set(key, outcome);
  return outcome;
}

// "pycage-jail: <stage>: <syscall>(<args>): <strerror> (errno N)[; <fix>]"
// from the helper, or "pycage-zygote: trial: <stage>: …" from a run child's
// plan (native/PROTOCOL.md). The last such line is the cause.
const STEP_LINE = /^(?:pycage-jail|pycage-zygote: trial): ([\w-]+): (.*?): ([^:;]*?) \(errno (\d+)\)(?:; (.*))?$/;

function failedStep(outcome) {
  const lines = String(outcome.log || '').split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = STEP_LINE.exec(lines[i]);
    if (m) {
      return { stage: m[1], syscall: m[2], error: m[3], errno: Number(m[4]), hint: m[5] || null, line: lines[i] };
    }
  }
  let why;
  if (outcome.timedOut) why = 'the trial jail did not finish within 30 s';
  else if (outcome.signal) why = `the trial jail was killed by signal ${outcome.signal}`;
  else why = `the trial jail exited with code ${outcome.exitCode}`;
  const last = lines.slice(-3).join(' | ');
  return { stage: null, syscall: null, error: why, errno: null, hint: null, line: last || why };
}

// What most likely hosts this process: the fix differs per platform.
function detectPlatform(env = process.env, exists = fs.existsSync) {
  if (env.KUBERNETES_SERVICE_HOST || exists('/var/run/secrets/kubernetes.io')) return 'kubernetes';
  if (exists('/run/.containerenv')) return 'podman';
  if (exists('/.dockerenv')) return 'docker';
  if (exists('/run/systemd/system')) return 'systemd';
  return 'linux';
}

// The kind of failure, from the step that failed.
function causeOf(step) {
  const call = step.syscall || '';
  if (step.stage === 'cgroup' || /cgroup/.test(call)) return 'cgroup';
  if (/NEWUSER|uid_map|gid_map|setgroups/.test(call) || step.stage === 'userns' || step.stage === 'run-userns') {
    return 'userns';
  }
  if (/^mount\(proc/.test(call)) return 'proc';
  if (/^(mount|umount|pivot_root)/.test(call)) return 'mount';
  if (step.stage === 'seccomp' || /seccomp/.test(call)) return 'seccomp';
  if (/^(unshare|clone)/.test(call)) return 'namespaces';
  return 'other';
}

const SYSCTLS = 'sysctl kernel.unprivileged_userns_clone=1 (Debian kernels), user.max_user_namespaces=15000 ' +
  'and, on Ubuntu 24.04 or newer, kernel.apparmor_restrict_unprivileged_userns=0';

function fixesFor(cause, platform) {
  if (cause === 'interpreter') {
    return ['check that the interpreter starts with `python3 -I -S -c pass` and that the jail binds its ' +
      'prefix (a python outside /usr must not live below a directory the jail hides, such as /tmp or /home)'];
  }
  if (cause === 'cgroup') {
    return ['delegate a cgroup v2 subtree to this service (systemd: Delegate=yes in its unit) and pass that ' +
      'directory as cgroupRoot, or omit cgroupRoot'];
  }
  const fixes = [];
  if (platform === 'docker' || platform === 'podman') {
    fixes.push('start the container with a seccomp profile that allows user, mount and pid namespaces ' +
      "(Docker's default profile refuses them): --security-opt seccomp=<profile>, " +
      '--security-opt apparmor=unconfined (the default AppArmor profile refuses mount)' +
      (cause === 'proc' ? ' and --security-opt systempaths=unconfined (an unmasked /proc)' : ''));
  } else if (platform === 'kubernetes') {
    fixes.push("set the pod's securityContext: seccompProfile type Localhost (a profile that allows user, mount " +
      'and pid namespaces) or Unconfined, appArmorProfile type Unconfined' +
      (cause === 'proc' ? ', and procMount: Unmasked (with hostUsers: false)' : ''));
  } else if (cause === 'proc') {
    fixes.push('this process sees a /proc with paths masked by overmounts (what container runtimes do), and the ' +
      'kernel then refuses the jail its own procfs: run it where /proc is unmasked');
  } else if (platform === 'systemd') {
    fixes.push('let the service create namespaces: no RestrictNamespaces= (or one that lists user mnt pid net ' +
      'ipc uts cgroup) and no SystemCallFilter= that refuses unshare, clone, mount or pivot_root');
  }
  if (cause === 'userns' || cause === 'namespaces' || fixes.length === 0) fixes.push(SYSCTLS);
  return fixes;
}

// Why a trial failed and what fixes it: the failed step, the platform this
// most likely is, and the fixes for that platform.
function explain(outcome, { env = process.env, exists = fs.existsSync } = {}) {
  const step = failedStep(outcome);
  const platform = detectPlatform(env, exists);
  const fixes = fixesFor(step.stage ? causeOf(step) : 'interpreter', platform);
  if (step.hint) fixes.unshift(step.hint);
  const where = step.stage
    ? `at step '${step.stage}': ${step.syscall} failed with ${step.error} (errno ${step.errno})`
    : `with no jail step to blame: ${step.error}${step.line && step.line !== step.error ? ` (${step.line})` : ''}`;
  return { step, platform, fixes, where };
}

// The error failed trials become: `failures` is [{ tier, outcome }],
// strongest tier first; the first names the step and the fix, the others
// (the reduced tier after full, under 'auto') add why they failed too.
function trialError(requested, failures, host = {}) {
  const [first, ...others] = failures;
  const { step, platform, fixes, where } = explain(first.outcome, host);
  const lines = [
    `Isolation '${requested}' is unavailable: a trial ${first.tier} jail failed ${where}.`,
    `How to fix (${platform}): ${fixes.join('; ')}.`,
  ];
  for (const other of others) lines.push(`A trial ${other.tier} jail failed too, ${explain(other.outcome, host).where}.`);
  lines.push("To run without any jail, opt in explicitly with isolation: 'bypass' or PYCAGE_SANDBOX_BYPASS=true.");
  const error = new PycageError(lines.join(' '), codes.ERR_ISOLATION_UNAVAILABLE);
  error.step = step.stage ? { stage: step.stage, syscall: step.syscall, errno: step.errno, error: step.error } : null;
  return error;
}

function summary(outcome) {
  if (!outcome) return null;
  if (outcome.ok) return { ok: true, wallMs: Math.round(outcome.wallMs * 10) / 10 };
  const step = failedStep(outcome);
  return { ok: false, stage: step.stage, syscall: step.syscall, errno: step.errno, error: step.error };
}

module.exports = { runSync, runAsync, failedStep, detectPlatform, causeOf, fixesFor, explain, trialError, summary };
