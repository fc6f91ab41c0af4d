'use strict';

// Shared by the security suites (not a test file itself). Every suite asks
// for a jail tier explicitly: on a host that cannot jail, the suites must
// fail, not quietly test the bypass tier. The tier is 'full' unless
// PYCAGE_TEST_TIER says 'reduced' (CI runs the suites in both); a case that
// does not apply to the reduced tier says why with onlyInFull(reason).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const native = require('../../js/native');
require('../js/common');  // scratch PYCAGE_DATA_DIR for Sandboxes made without a dataDir

const addonBuilt = native.ADDON_PATH !== null && fs.existsSync(native.ADDON_PATH);
// CI sets PYCAGE_REQUIRE_ADDON=1: there a missing addon is a failure, never a skip.
if (!addonBuilt && process.env.PYCAGE_REQUIRE_ADDON === '1') {
  throw new Error('PYCAGE_REQUIRE_ADDON=1 but no addon is built or prebuilt (npm run build)');
}
const skipWithoutAddon = addonBuilt ? false : 'the addon is not built (npm run build)';

const TIER = process.env.PYCAGE_TEST_TIER || 'full';
if (!['full', 'reduced'].includes(TIER)) throw new Error(`PYCAGE_TEST_TIER=${TIER}: expected full or reduced`);

// A Sandbox of the tier under test (the name predates the reduced tier).
function fullSandbox(options = {}) {
  return new Sandbox({ isolation: TIER, ...options });
}

// For { skip }: false in the full tier; in the reduced tier, why the case
// does not apply there (SECURITY.md's table says what holds instead).
function onlyInFull(reason) {
  return TIER === 'full' ? false : `not in the reduced tier: ${reason}`;
}

// The kernel's Landlock ABI, asked directly (landlock_create_ruleset with
// LANDLOCK_CREATE_RULESET_VERSION), not through pycage. From ABI 6 a
// reduced-tier run's domain scopes signals, so a session can end what a
// call started and its calls may start processes and threads.
const LANDLOCK_ABI = (() => {
  const python = process.env.PYCAGE_PYTHON || 'python3';
  const out = require('node:child_process').execFileSync(python,
    ['-I', '-S', '-c', 'import ctypes; print(max(0, ctypes.CDLL(None).syscall(444, None, 0, 1)))'], { encoding: 'utf8' });
  return Number(out.trim());
})();
const SESSIONS_FORK = TIER === 'full' || LANDLOCK_ABI >= 6;

// For { skip } of a session case that starts processes or threads.
function sessionsFork(reason) {
  return SESSIONS_FORK ? false
    : `not in the reduced tier on this kernel (Landlock ABI ${LANDLOCK_ABI} < 6): ${reason}`;
}

// Whether each concurrent run gets a host uid of its own, read from the host
// as SECURITY.md states the rule, not from pycage: root whose user namespace
// maps far more than itself (the jail's uids lie at 2^30 and up), with
// CAP_SETUID and CAP_SETGID. Otherwise a pool's runs share one uid.
const RUN_UIDS_OWN = (() => {
  if (process.getuid() !== 0) return false;
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  const setIds = (BigInt(`0x${capEff ? capEff[1] : '0'}`) >> 6n) & 3n;
  const wide = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n')
    .some((line) => Number(line.trim().split(/\s+/)[2]) > 2 ** 31);
  return setIds === 3n && wide;
})();

// A scratch dataDir for a suite. Searchable by every user: as host root the
// reduced tier's jail runs under a uid of its own, which must reach the
// bundles (mkdtemp makes 0700 directories).
function scratchDataDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// Every pid whose command line contains marker, found from the host's /proc.
function pidsWithMarker(marker) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (cmdline.includes(marker)) found.push(Number(entry));
    } catch { /* the process exited meanwhile */ }
  }
  return found;
}

// Processes with the marker as one whole argument. Unlike pidsWithMarker it
// never matches a process that merely quotes the marker, such as a Node that
// carries it inside its -e script, or that Node's child between fork and exec.
function pidsWithArgument(marker) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').includes(marker)) found.push(Number(entry));
    } catch { /* the process exited meanwhile */ }
  }
  return found;
}

module.exports = {
  TIER, LANDLOCK_ABI, SESSIONS_FORK, RUN_UIDS_OWN, skipWithoutAddon, fullSandbox, onlyInFull, sessionsFork, pidsWithMarker, pidsWithArgument,
  scratchDataDir,
};
