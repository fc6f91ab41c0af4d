'use strict';

// The benchmarks' floors are instruments: a target is called out of reach
// when a floor misses it (bench/js/floor.js). So the jailed floor must really
// jail each fork as a full-tier run is jailed, the plain floor must not, a
// failed node must end a floor with its error instead of hanging the bench,
// and no floor may leave a process behind.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { forkFloor, jailedFloor, jailedFloorLibs } = require('../../bench/js/floor');

const PYTHON = process.env.PYCAGE_PYTHON || 'python3';
const jail = jailedFloorLibs();

// What a fork reports of itself: its pid, uid, effective capabilities,
// filters, and the filesystems on /tmp and /proc it sees.
const PROBE = [
  'import os',
  'status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)',
  'mounts = [l.split(" - ")[1].split()[0] for l in open("/proc/self/mountinfo").read().splitlines()',
  '          if l.split()[4] == "/tmp"]',
  '{"pid": os.getpid(), "uid": os.getuid(), "capEff": status["CapEff"], "noNewPrivs": status["NoNewPrivs"],',
  ' "filters": status.get("Seccomp_filters"), "tmp": mounts[-1:], "pids": [p for p in os.listdir("/proc") if p.isdigit()]}',
].join('\n');

// Pids of this checkout's live floor processes (parent, init, fork server,
// spares), after waiting up to 5 s for them to go.
const FLOOR_SCRIPT = path.join(__dirname, '..', '..', 'bench', 'floor', 'fork_floor.py');
async function floorsLeft() {
  const live = () => fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(FLOOR_SCRIPT);
    } catch {
      return false;  // gone between the two reads
    }
  });
  for (let i = 0; i < 50 && live().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return live();
}

async function probe(options) {
  let seen = null;
  await forkFloor(PYTHON, [0], { runs: 3, code: PROBE, check: (result) => { seen = result; return true; }, ...options });
  return seen;
}

describe('the benchmarks\' floors', () => {
  it('a jailed floor runs each fork in a run\'s own jail', { skip: jail.unavailable }, async () => {
    const seen = await probe({ jail });
    assert.equal(seen.pid, 1, 'pid 1 of a pid namespace of its own');
    assert.deepEqual(seen.pids, ['1'], 'its /proc shows its own pid namespace only');
    assert.ok(seen.uid >= 200000, `a run uid, not root: ${seen.uid}`);
    assert.equal(seen.capEff, '0000000000000000');
    assert.equal(seen.noNewPrivs, '1');
    assert.equal(seen.filters, '2', 'the zygote filter and the run delta');
    assert.deepEqual(seen.tmp, ['tmpfs'], 'a /tmp of its own');
    assert.deepEqual(await floorsLeft(), [], 'its init and fork server end with it');
  });

  it('the plain floor isolates nothing', async () => {
    const seen = await probe({});
    assert.notEqual(seen.pid, 1);
    assert.equal(seen.uid, process.getuid());
    assert.equal(seen.filters, '0');
  });

  it('a node that fails ends the floor with its error', { timeout: 30000 }, async () => {
    await assert.rejects(forkFloor(PYTHON, [0], { runs: 3, code: 'raise ValueError("floor-node-failed")' }),
      /floor-node-failed/);
    assert.deepEqual(await floorsLeft(), [], 'no floor process is left behind');
  });

  it('a floor whose result is wrong is stopped, and leaves nothing behind', { timeout: 30000 }, async () => {
    await assert.rejects(forkFloor(PYTHON, [0], { runs: 3, check: () => false }), /floor is broken/);
    assert.deepEqual(await floorsLeft(), []);
  });

  it('a jailed floor that cannot start leaves the bench a reason, not a failure',
    { skip: jail.unavailable, timeout: 30000 }, async () => {
      const broken = { ...jail, confineLib: '/nonexistent/pycage-confine.so' };
      assert.equal(await jailedFloor(PYTHON, [0], { runs: 3 }, broken), null);
      assert.match(broken.unavailable, /^failed here: .*nonexistent/);
      assert.equal(await jailedFloor(PYTHON, [0], { runs: 3 }, broken), null, 'later calls skip it');
      assert.deepEqual(await floorsLeft(), [], 'no floor process is left behind');
    });

  it('a node that fails in a jailed floor ends it too', { skip: jail.unavailable, timeout: 30000 }, async () => {
    await assert.rejects(forkFloor(PYTHON, [0], { runs: 3, code: 'raise ValueError("floor-node-failed")', jail }),
      /floor-node-failed/);
    assert.deepEqual(await floorsLeft(), [], 'no floor process (its init, fork server or spares) is left behind');
  });
});
