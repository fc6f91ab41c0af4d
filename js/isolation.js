'use strict';

const { PycageError, codes } = require('./errors');
const validate = require('./validate');

const TIERS = Object.freeze(['auto', 'full', 'reduced', 'bypass']);
const BYPASS_ENV = Object.freeze(['PYCAGE_SANDBOX_BYPASS', 'TOOLJET_WORKFLOW_SANDBOX_BYPASS']);

function checkRequested(value) {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string' || !TIERS.includes(value)) {
    throw validate.expected(`one of ${TIERS.map((t) => `'${t}'`).join(', ')}`, 'isolation', value);
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

// The reduced tier needs seccomp and Landlock (any ABI; scoping of signals
// and abstract sockets needs ABI 6, and older kernels get the filter's
// fallback). No namespace at all.
function reducedAvailable(probe) {
  return Boolean(probe && probe.seccomp && probe.landlockAbi >= 1);
}

function reducedMissing(probe) {
  if (!probe) return ['host probe unavailable'];
  const missing = [];
  if (!probe.seccomp) missing.push('seccomp filters');
  if (!(probe.landlockAbi >= 1)) {
    missing.push('Landlock (Linux 5.13 or later with landlock in the kernel\'s lsm= list)');
  }
  return missing;
}

function unavailable(requested, probe) {
  const lines = [`Isolation '${requested}' is unavailable on this host.`];
  if (requested !== 'reduced') {
    const missing = fullMissing(probe);
    lines.push(`The full jail lacks: ${missing.length ? missing.join('; ') : 'unknown (the probe reported no reason)'}.`);
    const fix = probe && Array.isArray(probe.fix) ? probe.fix.map(String) : [];
    if (fix.length) lines.push(`How to fix: ${fix.join('; ')}.`);
  }
  if (requested !== 'full') lines.push(`The reduced jail lacks: ${reducedMissing(probe).join('; ')}.`);
  lines.push("To run without any jail, opt in explicitly with isolation: 'bypass' or PYCAGE_SANDBOX_BYPASS=true.");
  return new PycageError(lines.join(' '), codes.ERR_ISOLATION_UNAVAILABLE);
}

// requested: the validated option value ('auto' when omitted). Returns the
// tiers to prove with a trial jail, strongest first, and, for bypass, where
// the opt-in came from. 'auto' tries full, then reduced; an explicit tier
// beats the environment; bypass is never a fallback.
function candidates(requested, probe, env = process.env) {
  if (requested === 'bypass') return { tiers: ['bypass'], source: "the isolation: 'bypass' option" };
  if (requested === 'auto') {
    const fromEnv = bypassFromEnv(env);
    if (fromEnv) return { tiers: ['bypass'], source: `${fromEnv}=true in the environment` };
  }
  const tiers = [];
  if (requested !== 'reduced' && fullAvailable(probe)) tiers.push('full');
  if (requested !== 'full' && reducedAvailable(probe)) tiers.push('reduced');
  if (tiers.length === 0) throw unavailable(requested, probe);
  return { tiers, source: null };
}

function bypassWarning(source) {
  return `pycage: SANDBOX BYPASS ENABLED by ${source}. Python nodes run WITHOUT A JAIL: ` +
    'they can read host files, reach the network and see this host like the Node process does. ' +
    'Only timeouts, rlimits and output caps apply. Never use this with untrusted code.';
}

// Whether each run of a tier gets a host uid of its own (RLIMIT_NPROC per
// run) or the pool's runs share one: the full tier needs host root, the
// reduced tier root that may switch to the pool's uids (SECURITY.md).
function runUids(tier, probe) {
  const own = tier === 'full' ? probe.root === true : probe.switchUid === true;
  return own ? 'per-run' : 'shared';
}

// trials: the summary of each tier's trial jail, by tier (absent when none
// ran: bypass, a host the probe already ruled out, or a stronger tier won).
function tierEntry(available, missing, trial, uids) {
  const entry = { available, missing: available ? [] : missing, runUids: uids };
  if (trial) {
    entry.trial = trial;
    if (!trial.ok) {
      // The probe may say yes; the trial jail is what proves it.
      entry.available = false;
      entry.missing = [trial.stage ? `trial jail failed at ${trial.stage}: ${trial.syscall}: ${trial.error}` : trial.error];
    }
  }
  return entry;
}

function capabilities(probe, selected, env = process.env, requested = 'auto', trials = {}) {
  return {
    tiers: {
      full: tierEntry(fullAvailable(probe), fullMissing(probe), trials.full, runUids('full', probe)),
      reduced: tierEntry(reducedAvailable(probe), reducedMissing(probe), trials.reduced, runUids('reduced', probe)),
      bypass: { available: true, optIn: requested === 'bypass' || (requested === 'auto' && bypassFromEnv(env) !== null) },
    },
    selected,
    host: probe,
  };
}

module.exports = {
  TIERS, BYPASS_ENV, checkRequested, bypassFromEnv, fullAvailable, reducedAvailable, candidates, bypassWarning,
  capabilities, runUids,
};
