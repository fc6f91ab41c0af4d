'use strict';

// Which warm pool or session goes at the cap. Calls finish within the same
// millisecond, so recency must not be a clock reading: a tie once evicted
// the session just used (a flaky session test found it).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { Pools } = require('../../js/pools');
const { Sessions } = require('../../js/sessions');

function fakeNatives() {
  const closed = [];
  const create = ({ dir }) => ({ dir, close: async () => { closed.push(dir); } });
  return { create, closed };
}

describe('pool recency', () => {
  it('never evicts the pool it has just created, and evicts the least recently used', () => {
    const { create, closed } = fakeNatives();
    const pools = new Pools(create, 'full', { maxPools: 2 });
    pools.acquire('/b1', '/b1/site', []);
    pools.acquire('/b2', '/b2/site', []);
    pools.acquire('/b1', '/b1/site', []);       // /b2 is now the least recently used
    const third = pools.acquire('/b3', '/b3/site', []);
    assert.equal(third.native.dir, '/b3');
    assert.deepEqual(closed, ['/b2']);
    assert.deepEqual([...pools.pools.keys()].sort(), ['/b1', '/b3']);
  });
});

describe('session recency', () => {
  it('evicts the least recently used idle session even when every call ends in the same millisecond', async () => {
    const sessions = new Sessions({ max: 2 });
    const pool = { sessions: 0, native: { closeSession() {} } };
    const start = async () => ({ status: 'ok' });
    const realNow = Date.now;
    Date.now = () => 1_000;  // every call "at once"
    try {
      await sessions.call('a', '', pool, start);
      await sessions.call('b', '', pool, start);
      await sessions.call('a', '', pool, start);  // b is now the least recently used
      await sessions.call('c', '', pool, start);
    } finally {
      Date.now = realNow;
    }
    assert.deepEqual([...sessions.entries.keys()].sort(), ['a', 'c']);
    sessions.closeAll();
  });
});
