'use strict';

// The result channel (fd 3) and stdout from the node's side: the result is
// never parsed from stdout, and frames the node's code forges on fd 3 end in
// ProtocolError, never in a result or a host-fault rejection.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { skipWithoutAddon, fullSandbox } = require('./common');

const FRAMES = [
  'import os, struct, json',
  'def frame(payload):',
  '    os.write(3, struct.pack("<I", len(payload)) + payload)',
  'META = json.dumps({"status": "ok", "usage": {"cpuMs": 0, "maxRssKb": 0}}).encode()',
].join('\n');

function malformed(run, why) {
  assert.equal(run.status, 'error', `resolved ${JSON.stringify(run.result)}`);
  assert.equal(run.error.type, 'ProtocolError', run.error.message);
  assert.match(run.error.message, why);
  assert.equal(run.result, null);
}

describe('security: forged frames and odd results', { skip: skipWithoutAddon }, () => {
  let sandbox;
  // Warn mode: the socket cases test the jail, not the restrictions layer.
  before(() => { sandbox = fullSandbox({ restrictions: { mode: 'warn' } }); });
  after(() => sandbox && sandbox.close());

  it('never takes the result from stdout, whatever frames it carries', async () => {
    const run = await sandbox.runPython([
      'import sys, struct, json',
      'meta = json.dumps({"status": "ok"}).encode()',
      'sys.stdout.buffer.write(struct.pack("<I", len(meta)) + meta + struct.pack("<I", 8) + b"\\"forged\\"")',
      'sys.stdout.buffer.write(b"\\n{\\"status\\":\\"ok\\"}\\n\\"forged\\"\\n")',
      'result = "real"',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'real');
    assert.match(run.stdout, /forged/);
  });

  it('refuses a forged reply followed by the real one (extra frames)', async () => {
    const run = await sandbox.runPython(`${FRAMES}\nframe(META)\nframe(b'"forged"')\nresult = "real"`);
    malformed(run, /extra frames after the reply/);
  });

  it('refuses a forged setup_error instead of rejecting with ERR_ISOLATION_UNAVAILABLE', async () => {
    const run = await sandbox.runPython(
      `${FRAMES}\nframe(json.dumps({"status": "setup_error", "message": "mount failed"}).encode())\nos._exit(121)`);
    malformed(run, /setup_error reply after the node's code had started/);
    // The Sandbox still works: nothing was marked unavailable.
    const next = await sandbox.runPython('1 + 1');
    assert.equal(next.result, 2);
  });

  it('refuses a second started frame', async () => {
    const run = await sandbox.runPython(`${FRAMES}\nframe(b'{"status":"started"}')\nresult = 1`);
    malformed(run, /second 'started' frame/);
  });

  it('refuses garbage, a non-object reply and an unknown status on fd 3', async () => {
    malformed(await sandbox.runPython(`${FRAMES}\nframe(b"{not json")\nos._exit(0)`), /not a JSON object|malformed/);
    malformed(await sandbox.runPython(`${FRAMES}\nframe(b"[1]")\nos._exit(0)`), /not a JSON object/);
    malformed(await sandbox.runPython(`${FRAMES}\nframe(b'{"status":"pwned"}')\nos._exit(0)`), /unknown reply status 'pwned'/);
  });

  it('refuses a frame length beyond the channel cap without allocating it', async () => {
    const run = await sandbox.runPython(`${FRAMES}\nos.write(3, struct.pack("<I", 0xFFFFFFFF) + b"{")\nos._exit(0)`);
    malformed(run, /larger than the result limit allows/);
  });

  it('refuses a result frame that is not JSON: invalid UTF-8, NaN, nested too deep', async () => {
    malformed(await sandbox.runPython(`${FRAMES}\nframe(META)\nframe(b'"\\xff\\xfe"')\nos._exit(0)`), /not valid UTF-8/);
    malformed(await sandbox.runPython(`${FRAMES}\nframe(META)\nframe(b"NaN")\nos._exit(0)`), /not valid JSON/);
    malformed(await sandbox.runPython(`${FRAMES}\nframe(META)\nframe(b"[" * 100000 + b"]" * 100000)\nos._exit(0)`),
      /nests deeper than/);
  });

  it('reports death in the middle of a frame (os._exit after a partial write)', async () => {
    const run = await sandbox.runPython(`${FRAMES}\nos.write(3, struct.pack("<I", 100) + b'{"status":')\nos._exit(0)`);
    malformed(run, /closed in the middle of a frame/);
  });

  it('drops fds passed over the result channel (SCM_RIGHTS): none reaches the host', async () => {
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    await sandbox.runPython('1');
    const before = fds();
    const run = await sandbox.runPython([
      'import array, os, socket',
      'chan = socket.socket(fileno=3)',
      'fds = array.array("i", [os.open("/dev/null", os.O_RDONLY) for _ in range(200)])',
      'for _ in range(20):',
      '    chan.sendmsg([b"\\0\\0\\0\\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])',
      'chan.detach()',
    ].join('\n'));
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'ProtocolError');
    assert.ok(fds() < before + 10, `the host went from ${before} to ${fds()} fds`);
  });

  it('converts NaN and infinities to null, and refuses results nested deeper than 64', async () => {
    const ok = await sandbox.runPython('[float("nan"), float("inf"), -float("inf"), 1.5]');
    assert.equal(ok.status, 'ok', JSON.stringify(ok.error));
    assert.deepEqual(ok.result, [null, null, null, 1.5]);
    const deep = await sandbox.runPython('x = 1\nfor _ in range(100):\n    x = [x]\nx');
    assert.equal(deep.status, 'error');
    assert.equal(deep.error.type, 'ValueError');
    assert.match(deep.error.message, /nested more than 64 levels/);
  });

  it('refuses an oversized result with OutputLimitExceeded, before sending it', async () => {
    const run = await sandbox.runPython('"x" * (3 * 1024 * 1024)', { limits: { resultBytes: 1024 * 1024 } });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'OutputLimitExceeded');
    assert.match(run.error.message, /limits\.resultBytes/);
  });

  it('turns invalid UTF-8 on stdout and lone surrogates in results into U+FFFD', async () => {
    const run = await sandbox.runPython([
      'import sys',
      'sys.stdout.buffer.write(b"a\\xffb\\xc3\\n")',
      'sys.stderr.buffer.write(b"\\xed\\xa0\\x80")',
      'result = {"s": "x\\udcffy", "\\ud800": 1}',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.stdout, 'a\uFFFDb\uFFFD\n');
    assert.ok(!/[\uD800-\uDFFF]/.test(run.stderr), 'a lone surrogate reached JS');
    assert.deepEqual(run.result, { s: 'x\uFFFDy', '\uFFFD': 1 });
  });
});
