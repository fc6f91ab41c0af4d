'use strict';

// A short soak (bench/soak.js runs the long one): 500 runs, 32 at a time,
// mixing normal, failing, timing-out and cancelled runs. Every run must get
// its own outcome, and nothing may leak.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { skipWithoutAddon, TIER } = require('./common');
const { soak } = require('../../bench/soak');

describe('security: soak', { skip: skipWithoutAddon }, () => {
  it('settles 500 mixed runs at 32 concurrent with no lost result and no leak', async (t) => {
    // A private TMPDIR: other suites on this host may make pycage temp dirs
    // in the shared one meanwhile.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-'));
    fs.chmodSync(tmp, 0o755);  // the reduced tier's scratch trees go here, reached by the jail's own uid
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    t.after(() => {
      if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved;
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    const report = await soak({ runs: 500, concurrency: 32, isolation: TIER });
    assert.equal(report.lost, 0);
    assert.deepEqual(report.wrong, []);
    for (const [kind, { ok }] of Object.entries(report.counts)) assert.ok(ok > 0, `no ${kind} run`);
    assert.deepEqual(report.leaked, { children: 0, fds: 0, mounts: 0, tempDirs: 0 });
    assert.ok(report.rssMb.end - report.rssMb.start < 64, `RSS grew from ${report.rssMb.start} to ${report.rssMb.end} MB`);
  });
});
