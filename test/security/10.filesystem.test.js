'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { skipWithoutAddon, fullSandbox } = require('./common');

const SECRET_NAME = 'PYCAGE_TEST_SECRET';
const SECRET = `s3cr3t-${crypto.randomBytes(8).toString('hex')}`;

describe('security: host files and environment', { skip: skipWithoutAddon }, () => {
  let sandbox;
  const markers = [];
  before(() => {
    // Set before the Sandbox starts its helper and zygote, so any leak of the
    // host environment into the jail would carry it.
    process.env[SECRET_NAME] = SECRET;
    for (const dir of [os.tmpdir(), os.homedir(), fs.existsSync('/home') ? '/home' : null]) {
      if (!dir) continue;
      const file = path.join(dir, `.pycage-marker-${crypto.randomBytes(6).toString('hex')}`);
      try { fs.writeFileSync(file, SECRET); markers.push(file); } catch { /* read-only dir */ }
    }
    sandbox = fullSandbox();
  });
  after(async () => {
    delete process.env[SECRET_NAME];
    for (const file of markers) fs.rmSync(file, { force: true });
    if (sandbox) await sandbox.close();
  });

  function readProbe(paths) {
    return [
      'import json',
      `paths = ${JSON.stringify(paths)}`,
      'out = {}',
      'for p in paths:',
      '    try:',
      '        with open(p, "rb") as f: out[p] = "READ:" + f.read(256).decode("latin1")',
      '    except BaseException as e:',
      '        out[p] = type(e).__name__',
      'result = out',
    ].join('\n');
  }

  it('cannot read /etc/shadow', async () => {
    const run = await sandbox.runPython(readProbe(['/etc/shadow', '/etc/gshadow', '/etc/ssh/ssh_host_rsa_key']));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    for (const [p, v] of Object.entries(run.result)) assert.doesNotMatch(v, /^READ:/, `${p} was readable`);
  });

  it('cannot read files the host keeps in /tmp, $HOME and /home', async () => {
    assert.ok(markers.length > 0);
    const run = await sandbox.runPython(readProbe(markers));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    for (const [p, v] of Object.entries(run.result)) assert.doesNotMatch(v, /^READ:/, `${p} was readable`);
    assert.doesNotMatch(JSON.stringify(run), new RegExp(SECRET));
  });

  it('sees nothing of /root and /home beyond the interpreter it runs', async () => {
    const run = await sandbox.runPython([
      'import os',
      'seen = []',
      'for top in ("/root", "/home"):',
      '    for dirpath, dirnames, filenames in os.walk(top):',
      '        if dirpath.count("/") > 3: dirnames[:] = []',
      '        seen += [os.path.join(dirpath, f) for f in filenames]',
      'result = seen',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const shallow = run.result.filter((f) => /^\/(root|home)\/[^/]+$/.test(f) || /\.(ssh|gnupg|aws|npmrc|bash_history)/.test(f));
    assert.deepEqual(shallow, []);
  });

  it("cannot see the host's environment variables", async () => {
    const run = await sandbox.runPython([
      'import os, glob',
      'env = dict(os.environ)',
      'procs = {}',
      'for p in glob.glob("/proc/*/environ"):',
      '    try:',
      '        with open(p, "rb") as f: procs[p] = f.read().decode("latin1")',
      '    except BaseException as e:',
      '        procs[p] = type(e).__name__',
      'result = {"env": env, "procs": procs}',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result.env[SECRET_NAME], undefined);
    // The zygote's own loader setting (bound once, before any run) is not the node's.
    assert.equal(run.result.env.LD_BIND_NOW, undefined);
    assert.doesNotMatch(JSON.stringify(run.result), new RegExp(SECRET));
    for (const name of ['PATH', 'HOSTNAME', 'NODE_OPTIONS', 'USER']) {
      if (process.env[name] !== undefined && name !== 'PATH') assert.equal(run.result.env[name], undefined, name);
    }
  });

  it('cannot write to the read-only root', async () => {
    const run = await sandbox.runPython([
      'out = {}',
      'for p in ("/pwned", "/usr/pwned", "/etc/pwned", "/proc/sys/kernel/hostname"):',
      '    try:',
      '        with open(p, "w") as f: f.write("x")',
      '        out[p] = "WRITTEN"',
      '    except BaseException as e:',
      '        out[p] = type(e).__name__',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    for (const [p, v] of Object.entries(run.result)) assert.notEqual(v, 'WRITTEN', `${p} was writable`);
    assert.equal(fs.existsSync('/pwned'), false);
  });

  it('cannot fill /tmp beyond 16 MB', async () => {
    // Files stay under the 1 MB file-size limit so the tmpfs cap is what stops it.
    const run = await sandbox.runPython([
      'written = 0',
      'err = None',
      'chunk = b"x" * (900 * 1024)',
      'try:',
      '    for i in range(40):',
      '        with open(f"/tmp/f{i}", "wb") as f:',
      '            f.write(chunk)',
      '        written += len(chunk)',
      'except OSError as e:',
      '    err = e.errno',
      'result = {"written": written, "errno": err}',
    ].join('\n'));
    if (run.status === 'ok') {
      assert.notEqual(run.result.errno, null, 'writing 36 MB to /tmp succeeded');
      assert.ok(run.result.written <= 16 * 1024 * 1024, `wrote ${run.result.written} bytes`);
    } else {
      assert.ok(run.error.type !== 'TimeoutError', run.error.type);
    }
  });

  it('gets a fresh /tmp in every run', async () => {
    await sandbox.runPython('open("/tmp/left-behind", "w").write("x")');
    const run = await sandbox.runPython('import os\nos.path.exists("/tmp/left-behind")');
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, false);
  });
});
