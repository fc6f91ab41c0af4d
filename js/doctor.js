'use strict';

// `npx pycage doctor [--json] [--python P] [--data-dir D] [--cgroup-root C] [--index URL]`:
// what this host lacks for each tier, and the fix. It needs no configuration
// and no Sandbox: each check stands alone, so one failure does not hide the
// next. Every tier is proven by a trial jail (js/trial.js), not guessed.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const trial = require('./trial');
const isolation = require('./isolation');
const { requestFor } = require('./index_url');
const { makeDirs } = require('./dirs');

const SUPPORTED_NODE = Object.freeze([22, 24]);  // package.json "engines"
const INDEX_TIMEOUT_MS = 10_000;

const USAGE = 'usage: pycage doctor [--json] [--python PATH] [--data-dir DIR] [--cgroup-root DIR] [--index URL]';

function parseArgs(argv) {
  const opts = { json: false };
  const valued = { '--python': 'python', '--data-dir': 'dataDir', '--cgroup-root': 'cgroupRoot', '--index': 'index' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') opts.json = true;
    else if (valued[arg] !== undefined) {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value\n${USAGE}`);
      opts[valued[arg]] = argv[++i];
    } else {
      throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    }
  }
  return opts;
}

function check(name, ok, detail, fix = null) {
  return { name, ok, detail, fix };
}

function checkNode(version) {
  const major = Number(String(version).split('.')[0]);
  return SUPPORTED_NODE.includes(major)
    ? check('node', true, `Node ${version}`)
    : check('node', false, `Node ${version} is not a supported line (${SUPPORTED_NODE.join(', ')})`,
      `install Node ${SUPPORTED_NODE.at(-1)} (or ${SUPPORTED_NODE.slice(0, -1).join(', ')})`);
}

function firstLine(err) {
  return String(err && err.message ? err.message : err).split('\n')[0];
}

function fixFrom(err, fallback) {
  const lines = String(err && err.message ? err.message : '').split('\n');
  const fixes = lines.filter((line) => line.startsWith('- ')).map((line) => line.slice(2));
  return fixes.length > 0 ? fixes.join('; ') : fallback;
}

function checkDataDir(dir, fsys = fs) {
  const probeFile = path.join(dir, `.pycage-doctor-${process.pid}`);
  try {
    makeDirs(dir, { fsys });
    fsys.writeFileSync(probeFile, 'ok');
    fsys.unlinkSync(probeFile);
    return check('dataDir', true, `${dir} is writable`);
  } catch (err) {
    return check('dataDir', false, `${dir} is not writable (${err.code || firstLine(err)})`,
      `make ${dir} writable by uid ${process.getuid()}, or point dataDir (or PYCAGE_DATA_DIR) at a directory that is`);
  }
}

async function checkIndex(url, fetchFn) {
  let request;
  try {
    request = requestFor(url);
  } catch {
    return check('index', false, `'${url}' is not a URL`, 'pass the index as http(s)://host/simple/');
  }
  const { shown } = request;  // never print credentials
  try {
    const res = await fetchFn(request.href, { method: 'GET', redirect: 'follow', headers: request.headers,
      signal: AbortSignal.timeout(INDEX_TIMEOUT_MS) });
    if (res.status === 401 || res.status === 403) {
      return check('index', false, `${shown} refused access (HTTP ${res.status})`, 'check the credentials in the index URL');
    }
    if (res.status >= 400) {
      return check('index', false, `${shown} answered HTTP ${res.status}`, 'check the index URL (a PEP 503 simple index ends in /simple/)');
    }
    return check('index', true, `${shown} answered HTTP ${res.status}`);
  } catch (err) {
    const cause = err && err.cause ? (err.cause.code || err.cause.message) : (err && (err.name === 'TimeoutError' ? 'timed out' : err.message));
    return check('index', false, `${shown} is unreachable: ${cause}`,
      'check the URL, DNS, the proxy and the firewall between this host and the index');
  }
}

// Whether the tier's runs get uids of their own here, and what would give them.
function uidNote(tier, probe) {
  if (!probe) return '';
  if (isolation.runUids(tier, probe) === 'per-run') return '; each run gets a host uid of its own';
  return tier === 'full'
    ? '; runs share this process\'s uid (a uid per run needs this process to run as root)'
    : '; runs share one uid (a uid per run needs root with CAP_SETUID and CAP_SETGID, as in Docker\'s default set)';
}

// deps: what the checks touch, so each failing condition can be tested alone.
async function diagnose(opts, deps) {
  const { native, env = process.env, nodeVersion = process.versions.node, fetchFn = globalThis.fetch, fsys = fs } = deps;
  const checks = [checkNode(nodeVersion)];
  const tiers = { full: { available: false }, reduced: { available: false }, bypass: { available: false } };

  let binding = null;
  let helper = null;
  try {
    binding = native.load();
    helper = native.helperPath();
    checks.push(check('addon', true, `loaded; jail helper ${helper}`));
  } catch (err) {
    checks.push(check('addon', false, `the native addon does not load: ${firstLine(err)}`,
      fixFrom(err, 'reinstall pycage, or build it with `npx pycage build`')));
  }

  let python = null;
  try {
    python = native.resolvePython(opts.python, env);
    checks.push(check('interpreter', true, `Python ${python.version} at ${python.python}`));
  } catch (err) {
    checks.push(check('interpreter', false, firstLine(err), fixFrom(err, 'install python3')));
  }

  const cgroupRoot = opts.cgroupRoot || env.PYCAGE_CGROUP_ROOT || undefined;
  let probe = null;
  if (binding) {
    try {
      probe = native.probe(binding, helper, cgroupRoot);
    } catch (err) {
      checks.push(check('probe', false, firstLine(err), fixFrom(err, 'reinstall pycage')));
    }
  }

  // Each jail tier, proven by its own trial jail.
  for (const tier of ['full', 'reduced']) {
    if (!binding || !python) {
      checks.push(check(`tier ${tier}`, false, 'not tried: the addon or the interpreter is missing (see above)', null));
      continue;
    }
    const config = {
      helperPath: helper, runnerDir: native.RUNNER_DIR, python: python.python, pythonPrefixes: python.pythonPrefixes,
      isolation: tier, concurrency: 1, maxQueue: 1, extraBinds: [], extraEnv: [],
    };
    const outcome = binding.trialJail(config);
    tiers[tier] = { available: outcome.ok, trial: trial.summary(outcome) };
    if (probe) tiers[tier].runUids = isolation.runUids(tier, probe);
    if (outcome.ok) {
      checks.push(check(`tier ${tier}`, true, `a trial jail ran Python in ${outcome.wallMs.toFixed(0)} ms${uidNote(tier, probe)}`));
    } else {
      const why = trial.explain(outcome, { env });
      checks.push(check(`tier ${tier}`, false, `a trial jail failed ${why.where}`, `(${why.platform}) ${why.fixes.join('; ')}`));
    }
  }
  tiers.bypass = { available: Boolean(binding && python), optInOnly: true };
  checks.push(check('tier bypass', tiers.bypass.available,
    tiers.bypass.available ? 'available on explicit opt-in only (no jail at all)' : 'needs the addon and an interpreter'));

  if (probe) {
    const cg = probe.cgroup2 || { available: false, reason: 'the probe did not report cgroup v2' };
    checks.push(cg.available
      ? check('cgroup', true, `${cgroupRoot} is a delegated cgroup v2 directory`)
      : check('cgroup', false, `optional, no per-run memory and pids limits: ${cg.reason}`,
        'delegate a cgroup v2 subtree (systemd: Delegate=yes) and pass it as cgroupRoot'));
  }

  const dataDir = path.resolve(opts.dataDir || env.PYCAGE_DATA_DIR || path.join(os.homedir(), '.cache', 'pycage'));
  checks.push(checkDataDir(dataDir, fsys));
  if (opts.index) checks.push(await checkIndex(opts.index, fetchFn));

  const jailed = tiers.full.available || tiers.reduced.available;
  return {
    ok: jailed && checks.every((c) => c.ok || c.name === 'cgroup' || c.name === 'tier reduced' || c.name === 'tier full'),
    jailTier: tiers.full.available ? 'full' : tiers.reduced.available ? 'reduced' : null,
    tiers,
    checks,
    host: probe,
    platform: trial.detectPlatform(env),
    bypassFromEnv: isolation.bypassFromEnv(env),
  };
}

function format(report) {
  const lines = report.checks.map((c) => {
    // A tier that fails is a note while another jail tier works.
    const tierNote = c.name.startsWith('tier ') && c.name !== 'tier bypass' && report.jailTier !== null;
    const mark = c.ok ? 'ok  ' : c.name === 'cgroup' || tierNote ? 'note' : 'FAIL';
    return `${mark}  ${c.name}: ${c.detail}${c.ok || !c.fix ? '' : `\n      fix: ${c.fix}`}`;
  });
  lines.push(report.jailTier
    ? `\nisolation 'auto' picks: ${report.jailTier}`
    : "\nno jail tier is available here: isolation 'auto' fails with ERR_ISOLATION_UNAVAILABLE");
  return `${lines.join('\n')}\n`;
}

// Exit code: 0 when a jail tier works and nothing required is missing,
// 1 when no jail tier is available or a required check failed.
async function main(argv, deps = {}, out = process.stdout) {
  const opts = parseArgs(argv);
  const report = await diagnose(opts, { native: require('./native'), ...deps });
  out.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : format(report));
  return report.ok ? 0 : 1;
}

module.exports = { USAGE, parseArgs, diagnose, format, main, checkNode, checkDataDir, checkIndex };
