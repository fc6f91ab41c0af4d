'use strict';

// Who owns a piece of a shared dataDir: processes on this host (Node's
// cluster mode, PM2) or on other hosts that mount the same volume. An owner
// is "host:pid"; one on this host is alive while its pid is (and is no zombie), one elsewhere
// until its mark is older than `maxAgeMs` (it cannot be asked).

const fs = require('node:fs');
const os = require('node:os');

const HOST = os.hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 64) || 'host';
const SELF = `${HOST}~${process.pid}`;

// A zombie is not alive: a SIGKILLed process that nobody reaped (a
// container's pid 1 that does not reap keeps it one for good) holds its pid
// but can never finish or release what it owned.
function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code !== 'EPERM') return false;  // EPERM: alive, another user's
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch (err) {
    return err.code !== 'ENOENT';  // gone since; any other failure: assume alive
  }
}

// owner: "host~pid"; mtimeMs: when its mark was last written.
function ownerAlive(owner, mtimeMs, maxAgeMs) {
  const m = /^(.+)~(\d+)$/.exec(String(owner));
  if (!m) return false;
  if (m[1] === HOST) return pidAlive(Number(m[2]));
  return Date.now() - mtimeMs < maxAgeMs;
}

// The owner named in a tmp entry "prefix-host~pid-random", or null.
function ownerOfName(name) {
  const m = /^[a-z]+-(.+~\d+)-[^-]+$/.exec(name);
  return m ? m[1] : null;
}

function mtimeOf(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

module.exports = { SELF, HOST, ownerAlive, ownerOfName, mtimeOf, pidAlive };
