'use strict';

// Publishes or fetches one bundle through the PostgreSQL bundle store, in a
// process of its own so its peak resident memory can be read: prints
// { beforeKb, peakKb } (VmRSS before, VmHWM after, from /proc/self/status,
// the peak reset just before the operation), and for a fetch the result of
// running `PYCAGE_CHECK_CODE` against the bundle.
// Usage: node bundle_memory.js publish|fetch <pg url> <dataDir> <key>

const fs = require('node:fs');
const { Pool } = require('pg');
const { Sandbox } = require('../..');
const { createPostgresBundleStore } = require('../../js/postgres');

function statusKb(field) {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number.parseInt(line.split(':')[1], 10);
}

async function main() {
  const [mode, url, dataDir, key] = process.argv.slice(2);
  const pool = new Pool({ connectionString: url, max: 2 });
  const store = createPostgresBundleStore({ pool });
  const sandbox = new Sandbox({ dataDir });
  try {
    // Everything but the bundle itself is loaded and connected first.
    await store.migrate();
    await store.getStatus(key);
    await sandbox.runPython('1');
    sandbox.status(key);
    fs.writeFileSync('/proc/self/clear_refs', '5');  // VmHWM := VmRSS now
    const beforeKb = statusKb('VmRSS');
    if (mode === 'publish') await store.publish(sandbox, key);
    else await store.fetch(sandbox, key);
    const peakKb = statusKb('VmHWM');
    const check = mode === 'fetch' ? await sandbox.runPython(process.env.PYCAGE_CHECK_CODE, { bundle: key }) : null;
    process.stdout.write(`${JSON.stringify({ beforeKb, peakKb, check })}\n`);
  } finally {
    await sandbox.close();
    await pool.end();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
