'use strict';

const { PycageError, codes } = require('./errors');
const validate = require('./validate');

const TIERS = Object.freeze(['auto', 'full', 'reduced', 'bypass']);
const BYPASS_ENV = Object.freeze(['PYCAGE_SANDBOX_BYPASS', 'TOOLJET_WORKFLOW_SANDBOX_BYPASS']);
const REDUCED_MISSING = Object.freeze(['not implemented in this version']);

function checkRequested(value) {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string' || !TIERS.includes(value)) {
    throw validate.expected(`one of ${TIERS.map((t) => `'${t}'`).join(', ')}`, 'isolation', value);
  }
  // 'reduced' fails the same way on every host, so say so before any native
  // work: no probe result could change the answer.
  if (value === 'reduced') {
    throw new PycageError(
      "Isolation tier 'reduced' is not implemented in this version of pycage. " +
      "Use isolation 'full' (needs unprivileged user namespaces or root) or, " +
      "knowingly, 'bypass' (no jail at all)",
      codes.ERR_ISOLATION_UNAVAILABLE);
  }
  return value;
}

// Which environment variable (if any) opts this process into bypass.
function bypassFromEnv(env) {
  for (const name of BYPASS_ENV) {
    if (String(env[name] || '').trim().toLowerCase() === 'true') return name;
  }
  return null;
}

// The full tier needs every namespace the helper clones plus seccomp;
// cgroup delegation and Landlock only strengthen it.
function fullAvailable(probe) {
  return Boolean(probe && probe.userns && probe.mountns && probe.pidns && probe.netns && probe.seccomp);
}

// What the probe may list that the full tier can do without.
const OPTIONAL_FEATURES = new Set(['cgroup2', 'landlock']);

function fullMissing(probe) {
  if (!probe) return ['host probe unavailable'];
  if (Array.isArray(probe.missing) && probe.missing.length > 0) {
    const required = probe.missing.map(String).filter((item) => !OPTIONAL_FEATURES.has(item));
    if (required.length > 0) return required;
  }
  const missing = [];
  for (const [field, label] of [['userns', 'user namespaces'], ['mountns', 'mount namespaces'],
    ['pidns', 'pid namespaces'], ['netns', 'network namespaces'], ['seccomp', 'seccomp filters']]) {
    if (!probe[field]) missing.push(label);
  }
  return missing;
}

function unavailable(requested, probe) {
  const missing = fullMissing(probe);
  const fix = probe && Array.isArray(probe.fix) ? probe.fix.map(String) : [];
  const lines = [
    `Isolation '${requested}' is unavailable: this host cannot build the full jail.`,
    `Missing: ${missing.length ? missing.join('; ') : 'unknown (the probe reported no reason)'}.`,
  ];
  if (fix.length) lines.push(`How to fix: ${fix.join('; ')}.`);
  lines.push("The 'reduced' tier (seccomp + Landlock, no user namespaces) is not implemented in this version.");
  lines.push("To run without any jail, opt in explicitly with isolation: 'bypass' or PYCAGE_SANDBOX_BYPASS=true.");
  return new PycageError(lines.join(' '), codes.ERR_ISOLATION_UNAVAILABLE);
}

// requested: the validated option value ('auto' when omitted). Returns the
// tier handed to the native side and, for bypass, where the opt-in came from.
// An explicit 'full' beats the environment; bypass is never a silent fallback.
function choose(requested, probe, env = process.env) {
  if (requested === 'bypass') return { tier: 'bypass', source: "the isolation: 'bypass' option" };
  if (requested === 'auto') {
    const fromEnv = bypassFromEnv(env);
    if (fromEnv) return { tier: 'bypass', source: `${fromEnv}=true in the environment` };
  }
  if (fullAvailable(probe)) return { tier: 'full', source: null };
  throw unavailable(requested, probe);
}

function bypassWarning(source) {
  return `pycage: SANDBOX BYPASS ENABLED by ${source}. Python nodes run WITHOUT A JAIL: ` +
    'they can read host files, reach the network and see this host like the Node process does. ' +
    'Only timeouts, rlimits and output caps apply. Never use this with untrusted code.';
}

// trial: the summary of the trial jail of the full tier (null when none ran:
// bypass, or a host the probe already ruled out).
function capabilities(probe, selected, env = process.env, requested = 'auto', trial = null) {
  const full = { available: fullAvailable(probe), missing: fullAvailable(probe) ? [] : fullMissing(probe) };
  if (trial) {
    full.trial = trial;
    if (!trial.ok) {
      // The probe may say yes; the trial jail is what proves it.
      full.available = false;
      full.missing = [trial.stage ? `trial jail failed at ${trial.stage}: ${trial.syscall}: ${trial.error}` : trial.error];
    }
  }
  return {
    tiers: {
      full,
      reduced: { available: false, missing: [...REDUCED_MISSING] },
      bypass: { available: true, optIn: requested === 'bypass' || (requested === 'auto' && bypassFromEnv(env) !== null) },
    },
    selected,
    host: probe,
  };
}

module.exports = { TIERS, BYPASS_ENV, checkRequested, bypassFromEnv, fullAvailable, choose, bypassWarning, capabilities };
