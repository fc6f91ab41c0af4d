'use strict';

// A host SIGKILLed in the middle of a build: the next start finds the old
// state (the previous ready bundle) or a clear 'failed', never half a bundle,
// and the installer died with the host.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

// An index that accepts connections and never answers: the build hangs in pip.
function startHangingIndex() {
  return new Promise((resolve) => {
    const sockets = new Set();
    const server = http.createServer(() => { /* never answers */ });
    server.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); });
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}/simple/`,
      close: () => new Promise((done) => { for (const s of sockets) s.destroy(); server.close(done); }),
    }));
  });
}

// A separate Node process that installs `requirements` under `key` and
// prints each status; resolves once it printed `waitFor`.
function hostProcess(dataDir, indexUrl, key, requirements, waitFor) {
  const script = `
    const { Sandbox } = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
    const s = new Sandbox({ dataDir: ${JSON.stringify(dataDir)}, index: { url: ${JSON.stringify(indexUrl)} }, installer: { tool: 'pip' } });
    s.on('status', (key, st) => console.log('STATUS ' + st.status));
    s.install(${JSON.stringify(key)}, ${JSON.stringify(requirements)});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes(`STATUS ${waitFor}`)) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`host exited early (${code}): ${out}`)));
  });
}

function processesMentioning(text) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) found.push(Number(entry));
    } catch { /* gone */ }
  }
  return found;
}

describe('a host killed during a build', { skip: skipWithoutAddon }, () => {
  let hanging;
  let index;
  before(async () => {
    hanging = await startHangingIndex();
    index = await startIndex([(await ensureWheels()).dir]);
  });
  after(async () => {
    await hanging.close();
    await index.close();
  });

  it("comes back 'failed' with a clear message, an empty tmp/ and no installer left", async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-crash-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const host = await hostProcess(dataDir, hanging.url, 'wf-crash', 'pycage-hello\n', 'building');
    // Give pip time to be inside the jail, connecting to the index.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    host.kill('SIGKILL');
    await new Promise((resolve) => host.on('exit', resolve));
    // The installer dies with its host (PDEATHSIG chain); allow it a moment.
    const deadline = Date.now() + 5000;
    while (processesMentioning(dataDir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(processesMentioning(dataDir), [], 'no installer outlives its host');

    const sandbox = new Sandbox({ dataDir });
    t.after(() => sandbox.close());
    const status = sandbox.status('wf-crash');
    assert.equal(status.status, 'failed');
    assert.match(status.error, /interrupted.*rebuild: true/);
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'bundles', 'tmp')), []);
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'bundles', 'installs')), []);
  });

  it('keeps serving the previous ready bundle when a rebuild was interrupted', async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-crash-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const first = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    const ready = await first.install('wf-crash2', 'pycage-hello==1.0\n');
    assert.equal(ready.status, 'ready', ready.error);
    await first.close();

    const host = await hostProcess(dataDir, hanging.url, 'wf-crash2', 'pycage-hello==2.0\n', 'building');
    host.kill('SIGKILL');
    await new Promise((resolve) => host.on('exit', resolve));

    const sandbox = new Sandbox({ dataDir });
    t.after(() => sandbox.close());
    const status = sandbox.status('wf-crash2');
    assert.equal(status.status, 'ready');
    assert.equal(status.bundleSha, ready.bundleSha);
    assert.equal(status.requirements, 'pycage-hello==1.0\n', 'the requirements of the bundle that serves');
    const run = await sandbox.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-crash2' });
    assert.equal(run.result, '1.0');
  });
});
