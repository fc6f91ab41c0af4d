'use strict';

// Sessions as an attacker uses them: reaching another session's state,
// tampering with the runner of one's own session, and talking to the zygote
// over the session's private socket (fd 4).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { skipWithoutAddon, fullSandbox, pidsWithMarker, TIER, sessionsFork } = require('./common');

describe('security: sessions', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = fullSandbox(); });
  after(() => sandbox.close());

  it("cannot reach another session's state through memory, /proc or the filesystem", async () => {
    const secret = `pycage-secret-${crypto.randomBytes(8).toString('hex')}`;
    const stored = await sandbox.runPython(`import os, tempfile\nsecret = "${secret}"\nopen(os.path.join(tempfile.gettempdir(), "secret"), "w").write(secret)\nlen(secret)`,
      { session: 'victim' });
    assert.equal(stored.status, 'ok', JSON.stringify(stored.error));
    const hunt = await sandbox.runPython([
      'import gc, os',
      `needle = "${secret.slice(0, 14)}"`,
      'found = []',
      'for o in gc.get_objects():',
      '    if isinstance(o, str) and o.startswith(needle) and o != needle:',
      '        found.append("heap")',
      'try:',
      '    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())',
      'except PermissionError:',
      '    pids = None  # reduced tier: no /proc at all',
      'for pid in pids or []:',
      '    for name in ("environ", "cmdline", "maps", "mem"):',
      '        try:',
      '            data = open(f"/proc/{pid}/{name}", "rb").read(1 << 20)',
      '            if needle.encode() in data and pid != os.getpid():',
      '                found.append(f"/proc/{pid}/{name}")',
      '        except OSError:',
      '            pass',
      'import tempfile',
      'found.append(("tmp", os.path.exists(os.path.join(tempfile.gettempdir(), "secret"))))',
      'result = {"found": found, "pids": pids, "me": os.getpid()}',
    ].join('\n'), { session: 'attacker' });
    assert.equal(hunt.status, 'ok', JSON.stringify(hunt.error));
    // Its own pid namespace: it sees itself (pid 1) and nothing of the victim;
    // in the reduced tier no /proc at all.
    assert.deepEqual(hunt.result.pids, TIER === 'full' ? [1] : null);
    assert.deepEqual(hunt.result.found, [['tmp', false]]);
    const still = await sandbox.runPython('secret', { session: 'victim' });
    assert.equal(still.result, secret);
  });

  it("a session that patches its own runner forges only its own results", async () => {
    const patched = await sandbox.runPython([
      'import sys',
      'execute = sys.modules["execute"]',
      'real = execute._reply_ok',
      'def forged(data, fd=3, extra=None):',
      '    return real(b"\\"forged\\"", fd, extra)',
      'execute._reply_ok = forged',
      '"patched"',
    ].join('\n'), { session: 'forger' });
    assert.equal(patched.status, 'ok', JSON.stringify(patched.error));
    const own = await sandbox.runPython('1 + 1', { session: 'forger' });
    assert.equal(own.result, 'forged', 'the patch works inside its own session');
    const other = await sandbox.runPython('1 + 1', { session: 'bystander' });
    const plain = await sandbox.runPython('1 + 1');
    assert.deepEqual([other.result, plain.result], [2, 2]);
  });

  it('a forged "done" frame or garbage on the private socket ends only that session', async () => {
    await sandbox.runPython('kept = 1', { session: 'neighbour' });
    await sandbox.runPython('mine = 1', { session: 'talker' });
    const forged = await sandbox.runPython([
      'import os, json',
      'msg = json.dumps({"op": "done", "cpuTotalMs": 0, "maxRssKb": 0}).encode()',
      'os.write(4, len(msg).to_bytes(4, "little") + msg)',
      'os.write(4, b"\\xff\\xff\\xff\\x7f" + b"x" * 64)',
      '"sent"',
    ].join('\n'), { session: 'talker' });
    // Whatever the zygote made of it, the call settles and the host is unharmed.
    assert.ok(['ok', 'error'].includes(forged.status));
    const next = await sandbox.runPython('"mine" in globals()', { session: 'talker' });
    assert.equal(next.status, 'ok', JSON.stringify(next.error));
    assert.equal(next.sessionRestarted, true, 'the zygote killed the session that spoke out of turn');
    const neighbour = await sandbox.runPython('kept', { session: 'neighbour' });
    assert.deepEqual([neighbour.result, neighbour.sessionRestarted], [1, false]);
    const plain = await sandbox.runPython('6 * 7');
    assert.equal(plain.result, 42);
  });

  it('cannot keep a process alive between calls to work in the background', { skip: sessionsFork('a session call cannot start a process at all (RLIMIT_NPROC 0; 14.reduced)') }, async () => {
    const marker = `90.${crypto.randomInt(1e6, 1e7)}`;
    const started = await sandbox.runPython([
      'import os, tempfile, time',
      'up = os.path.join(tempfile.gettempdir(), "daemon-up")',
      'pid = os.fork()',
      'if pid == 0:',
      '    try:',
      '        os.setsid()  # out of the call\'s group (the reduced tier refuses it)',
      '    except OSError:',
      '        pass',
      '    if os.fork() == 0:',
      '        open(up, "w").close()',
      `        os.execv("/bin/sleep", ["sleep", "${marker}"])`,
      '    os._exit(0)',
      'os.waitpid(pid, 0)',
      'deadline = time.time() + 5',
      'while not os.path.exists(up) and time.time() < deadline:',
      '    time.sleep(0.01)',
      'time.sleep(0.2)  # past its exec',
      'os.path.exists(up)',
    ].join('\n'), { session: 'daemon' });
    assert.equal(started.status, 'ok', JSON.stringify(started.error));
    assert.equal(started.result, true, 'the double-forked daemon ran during the call');
    // The next call is served only once the last one's leftovers are gone.
    const later = await sandbox.runPython('"next"', { session: 'daemon' });
    assert.deepEqual([later.result, later.sessionRestarted], ['next', false]);
    assert.deepEqual(pidsWithMarker(marker), [], 'the daemon outlived its call');
    if (TIER === 'full') {
      const inside = await sandbox.runPython('import os\nsorted(int(p) for p in os.listdir("/proc") if p.isdigit())',
        { session: 'daemon' });
      assert.deepEqual(inside.result, [1]);
    }
  });

  it('stops a fork bomb in a session call at the process limit, and nothing of it outlives the call', { skip: sessionsFork('a session call cannot start a process at all (RLIMIT_NPROC 0; 14.reduced)') }, async () => {
    const marker = `90.${crypto.randomInt(1e6, 1e7)}`;
    await sandbox.runPython('kept = "bomber"', { session: 'bomber' });
    const bomb = await sandbox.runPython([
      'import os',
      'kids = 0',
      'try:',
      '    while kids < 1000:',
      '        if os.fork() == 0:',
      `            os.execv("/bin/sleep", ["sleep", "${marker}"])`,
      '        kids += 1',
      'except OSError as e:',
      '    result = [kids, e.errno]',
    ].join('\n'), { session: 'bomber', limits: { wallMs: 10000 } });
    assert.equal(bomb.status, 'ok', JSON.stringify(bomb.error));
    // processes = 5 counts the session itself; in the reduced tier the
    // pool's idle slots may add up to 41 more (41.resources.bombs).
    const cap = TIER === 'full' ? 4 : 4 + 41;
    assert.ok(bomb.result[0] <= cap, `${bomb.result[0]} processes started`);
    assert.equal(bomb.result[1], 11, 'fork() failed with EAGAIN');
    const next = await sandbox.runPython('kept', { session: 'bomber' });
    assert.deepEqual([next.result, next.sessionRestarted], ['bomber', false]);
    assert.deepEqual(pidsWithMarker(marker), [], 'a process of the bomb outlived its call');
    const plain = await sandbox.runPython('6 * 7');
    assert.equal(plain.result, 42);
  });

  it("a call's kill(-1) reaches only what that call started", { skip: sessionsFork('a session call cannot start a process at all (RLIMIT_NPROC 0; 14.reduced)') }, async () => {
    const neighbour = await sandbox.runPython('kept = "neighbour"', { session: 'kill-neighbour' });
    assert.equal(neighbour.status, 'ok', JSON.stringify(neighbour.error));
    const killer = await sandbox.runPython([
      'import os, signal, time',
      'pid = os.fork()',
      'if pid == 0:',
      '    time.sleep(30)',
      '    os._exit(0)',
      'os.kill(-1, signal.SIGKILL)',
      'status = os.waitpid(pid, 0)[1]',
      'os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL',
    ].join('\n'), { session: 'kill-all' });
    assert.equal(killer.status, 'ok', JSON.stringify(killer.error));
    assert.equal(killer.result, true, 'its own child was killed');
    const after = await sandbox.runPython('kept', { session: 'kill-neighbour' });
    assert.deepEqual([after.result, after.sessionRestarted], ['neighbour', false]);
    const plain = await sandbox.runPython('6 * 7');
    assert.equal(plain.result, 42);
    const self = await sandbox.runPython('"alive"', { session: 'kill-all' });
    assert.deepEqual([self.result, self.sessionRestarted], ['alive', false]);
  });

  it('cannot keep a thread working between calls, nor fork from it after the call', { skip: sessionsFork('a session call cannot start a thread at all (RLIMIT_NPROC 0; 14.reduced)') }, async () => {
    const marker = `31.${crypto.randomInt(1e6, 1e7)}`;
    const started = await sandbox.runPython([
      'import os, threading, time',
      'state = "kept"',
      'def burn():',
      '    end = time.time() + 0.4',
      '    while time.time() < end:',
      '        pass',
      '    if os.fork() == 0:',
      `        os.execv("/bin/sleep", ["sleep", "${marker}"])`,
      '    while True:',
      '        pass',
      'threading.Thread(target=burn, daemon=True).start()',
      '"started"',
    ].join('\n'), { session: 'worker' });
    assert.equal(started.status, 'ok', JSON.stringify(started.error));
    assert.equal(started.result, 'started');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(pidsWithMarker(marker), [], 'a process forked by the thread after the call is running');
    const later = await sandbox.runPython('globals().get("state")', { session: 'worker' });
    assert.equal(later.status, 'ok', JSON.stringify(later.error));
    // The session ended with the call that left its thread running.
    assert.deepEqual([later.result, later.sessionRestarted], [null, true]);
  });

  it('keeps its state when a call\'s threads have finished', { skip: sessionsFork('a session call cannot start a thread at all (RLIMIT_NPROC 0; 14.reduced)') }, async () => {
    const first = await sandbox.runPython([
      'import threading',
      'box = []',
      't = threading.Thread(target=lambda: box.append(1))',
      't.start(); t.join()',
      'len(box)',
    ].join('\n'), { session: 'joined' });
    assert.equal(first.result, 1, JSON.stringify(first.error));
    const second = await sandbox.runPython('len(box)', { session: 'joined' });
    assert.deepEqual([second.result, second.sessionRestarted], [1, false]);
  });
});
