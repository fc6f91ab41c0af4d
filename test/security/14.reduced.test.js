'use strict';

// What the reduced tier (seccomp + Landlock, no namespaces) holds instead of
// the full tier's mounts and pid namespaces: SECURITY.md's table points
// here. Each case is real Python through the public API, as an attacker
// would write it. Skipped in the full tier, whose suites cover the same
// ground with namespaces (11, 13, 30, 90).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { skipWithoutAddon, fullSandbox, pidsWithMarker, TIER, LANDLOCK_ABI, SESSIONS_FORK, RUN_UIDS_OWN } = require('./common');

const EPERM = 1;
const EACCES = 13;
const skip = skipWithoutAddon || (TIER !== 'reduced' && 'reduced tier only (PYCAGE_TEST_TIER=reduced)');

async function until(check, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

describe('security: the reduced tier', { skip }, () => {
  let sandbox;
  let secretDir;
  const secret = `pycage-secret-${crypto.randomBytes(8).toString('hex')}`;
  before(() => {
    sandbox = fullSandbox({ restrictions: { mode: 'warn' } });
    // World-readable on purpose: only the jail may keep a run from it.
    secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-reduced-secret-'));
    fs.chmodSync(secretDir, 0o755);
    fs.writeFileSync(path.join(secretDir, 'secret.txt'), secret, { mode: 0o644 });
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    fs.rmSync(secretDir, { recursive: true, force: true });
  });

  it('writes only below its own scratch directory, which is its cwd, HOME and TMPDIR', async () => {
    const run = await sandbox.runPython([
      'import os, tempfile',
      'out = {"cwd": os.getcwd(), "tmp": tempfile.gettempdir(), "home": os.environ.get("HOME")}',
      'open("mine.txt", "w").write("x")',
      'out["own"] = open(os.path.join(tempfile.gettempdir(), "mine.txt")).read()',
      `for target in ("/tmp/pwned", "/pwned", "/usr/pwned", ${JSON.stringify(path.join(secretDir, 'pwned'))}, os.path.join(os.path.dirname(os.getcwd()), "pwned")):`,
      '    try:',
      '        open(target, "w").write("x")',
      '        out[target] = "WRITTEN"',
      '    except OSError as e:',
      '        out[target] = e.errno',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const { cwd, tmp, home, own, ...targets } = run.result;
    assert.equal(tmp, cwd);
    assert.equal(home, cwd);
    assert.equal(own, 'x');
    for (const [target, outcome] of Object.entries(targets)) assert.equal(outcome, EACCES, target);
    assert.equal(fs.existsSync(path.join(secretDir, 'pwned')), false);
  });

  it('reads nothing but the interpreter, the bundle and the runtime files: no /etc, /proc, /dev, /root or host secret', async () => {
    const run = await sandbox.runPython([
      'import os',
      'out = {}',
      `for target in ("/etc/passwd", "/etc/hostname", "/proc/self/status", "/proc/1/environ", "/proc", "/dev", "/root", "/home", "/sys", ${JSON.stringify(path.join(secretDir, 'secret.txt'))}):`,
      '    try:',
      '        out[target] = "READ" if not os.path.isdir(target) or os.listdir(target) is None else "LISTED"',
      '        if not os.path.isdir(target): open(target).read()',
      '    except OSError as e:',
      '        out[target] = e.errno',
      'out["usr"] = len(os.listdir("/usr/lib")) > 0',
      'out["urandom"] = len(open("/dev/urandom", "rb").read(8))',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const { usr, urandom, ...targets } = run.result;
    assert.equal(usr, true);
    assert.equal(urandom, 8);
    for (const [target, outcome] of Object.entries(targets)) assert.equal(outcome, EACCES, target);
    assert.doesNotMatch(JSON.stringify(run), new RegExp(secret));
  });

  it("cannot read, list or write another run's or session's scratch directory", async () => {
    const victim = await sandbox.runPython(`import os\nopen("note.txt", "w").write("${secret}")\nos.getcwd()`,
      { session: 'victim' });
    assert.equal(victim.status, 'ok', JSON.stringify(victim.error));
    const theirs = victim.result;
    const run = await sandbox.runPython([
      'import os',
      'out = {}',
      `for what, call in (("read", lambda: open(${JSON.stringify(`${theirs}/note.txt`)}).read()),`,
      `                   ("list", lambda: os.listdir(${JSON.stringify(theirs)})),`,
      `                   ("write", lambda: open(${JSON.stringify(`${theirs}/x`)}, "w")),`,
      '                   ("parent", lambda: os.listdir(os.path.dirname(os.getcwd())))):',
      '    try:',
      '        call()',
      '        out[what] = "DONE"',
      '    except OSError as e:',
      '        out[what] = e.errno',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, { read: EACCES, list: EACCES, write: EACCES, parent: EACCES });
    const still = await sandbox.runPython('open("note.txt").read()', { session: 'victim' });
    assert.equal(still.result, secret);
    await sandbox.closeSession('victim');
  });

  it('leaves no scratch directory behind once the run is reaped', async () => {
    const run = await sandbox.runPython('import os\nopen("big.bin", "wb").write(b"x" * 4096)\nos.mkdir("d")\nos.getcwd()');
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.ok(await until(() => !fs.existsSync(run.result), 2000), `${run.result} outlived its run`);
  });

  it('refuses setsid and setpgid (the ways out of its process group), chmod, utime and xattr writes', async () => {
    const run = await sandbox.runPython([
      'import os, sys',
      'out = {}',
      'open("f", "w").close()',
      'for name, call in (("setsid", os.setsid), ("setpgid", lambda: os.setpgid(0, 0)),',
      '                   ("chmod", lambda: os.chmod(sys.executable, 0o4755)), ("chmod-own", lambda: os.chmod("f", 0o600)),',
      '                   ("utime", lambda: os.utime(sys.executable, (0, 0))),',
      '                   ("setxattr", lambda: os.setxattr("f", "user.x", b"1"))):',
      '    try:',
      '        call()',
      '        out[name] = "DONE"',
      '    except OSError as e:',
      '        out[name] = e.errno',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, { setsid: EPERM, setpgid: EPERM, chmod: EPERM, 'chmod-own': EPERM, utime: EPERM,
      setxattr: EPERM });
  });

  it('ends every process a run started when it ends, even one whose parent exited (no pid namespace to help)', async () => {
    const marker = `pycage-orphan-${crypto.randomBytes(6).toString('hex')}`;
    const run = await sandbox.runPython([
      'import os, sys, time',
      'pid = os.fork()',
      'if pid == 0:',
      '    if os.fork() == 0:',
      `        os.execv("/bin/sleep", ["sleep", "30", ${JSON.stringify(marker)}])`,
      '    os._exit(0)',
      'os.waitpid(pid, 0)',
      'time.sleep(0.2)',
      '"orphaned"',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'orphaned');
    assert.ok(await until(() => pidsWithMarker(marker).length === 0, 2000), 'the orphan outlived its run');
  });

  it('cannot signal the warm interpreter, another run or a session (Landlock signal scope)', async () => {
    const victim = await sandbox.runPython('import os\nos.getpid()', { session: 'signal-victim' });
    const run = await sandbox.runPython([
      'import os, signal',
      'out = {}',
      `for name, pid in (("zygote", os.getppid()), ("session", ${victim.result}), ("host", ${process.pid})):`,
      '    try:',
      '        os.kill(pid, signal.SIGKILL)',
      '        out[name] = "SENT"',
      '    except OSError as e:',
      '        out[name] = e.errno',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, { zygote: EPERM, session: EPERM, host: EPERM });
    const after = await sandbox.runPython('"alive"', { session: 'signal-victim' });
    assert.deepEqual([after.result, after.sessionRestarted], ['alive', false]);
    await sandbox.closeSession('signal-victim');
  });

  it('runs under a uid of its own when the host is root, never 0', { skip: process.getuid() !== 0 && 'needs host root' }, async () => {
    const run = await sandbox.runPython('import os\n[os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]');
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const [uid, euid, gid, groups] = run.result;
    assert.ok(uid > 0 && uid === euid && gid === uid, JSON.stringify(run.result));
    assert.deepEqual(groups, []);
  });

  it('says in capabilities() whether its runs get uids of their own, and they do exactly then', async () => {
    assert.equal(sandbox.capabilities().tiers.reduced.runUids, RUN_UIDS_OWN ? 'per-run' : 'shared');
    const uids = await Promise.all([0, 1].map(() => sandbox.runPython('import os, time\ntime.sleep(0.5)\nos.getuid()')));
    for (const run of uids) assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(uids[0].result !== uids[1].result, RUN_UIDS_OWN, `uids ${uids.map((r) => r.result)}`);
  });

  it("does not charge a run for the processes an earlier run left behind (they are reaped with its end)", async () => {
    // RLIMIT_NPROC counts the pool's shared uid, zombies included: what a
    // run left must be reaped before the next run needs those processes.
    for (let round = 0; round < 3; round++) {
      const litter = await sandbox.runPython([
        'import os, time',
        'made = 0',
        'try:',
        '    while True:',
        '        if os.fork() == 0:',
        '            try:',
        '                if os.fork() == 0:  # a grandchild: the zygote\'s once its parent dies',
        '                    time.sleep(60)',
        '            finally:',
        '                time.sleep(60)',
        '        made += 2',
        'except OSError:',
        '    pass',
        'made',
      ].join('\n'));
      assert.equal(litter.status, 'ok', JSON.stringify(litter.error));
      assert.ok(litter.result >= (RUN_UIDS_OWN ? 4 : 10), `only ${litter.result} processes left behind`);
      const next = await sandbox.runPython([
        'import os',
        'kids = []',
        'for _ in range(4):',
        '    pid = os.fork()',
        '    if pid == 0:',
        '        os._exit(0)',
        '    kids.append(pid)',
        'for k in kids:',
        '    os.waitpid(k, 0)',
        'len(kids)',
      ].join('\n'));
      assert.equal(next.status, 'ok', `round ${round}: ${JSON.stringify(next.error)}`);
      assert.equal(next.result, 4);
    }
  });

  it('reaps the orphans a session call leaves to the warm interpreter (a subreaper) while the session lives on',
    { skip: !SESSIONS_FORK && `session calls cannot start processes here (Landlock ABI ${LANDLOCK_ABI})` }, async () => {
    let zygote = 0;
    for (let call = 0; call < 5; call++) {
      const run = await sandbox.runPython([
        'import os, time',
        'for _ in range(4):',
        '    pid = os.fork()',
        '    if pid == 0:',
        '        if os.fork() == 0:',
        '            time.sleep(60)',
        '        os._exit(0)',
        '    os.waitpid(pid, 0)',
        'os.getppid()',
      ].join('\n'), { session: 'orphan-maker' });
      assert.equal(run.status, 'ok', JSON.stringify(run.error));
      zygote = run.result;
    }
    // Killed with each call's end, they are the zygote's zombies until it reaps them.
    const zombiesOf = (ppid) => fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
      try {
        const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
        const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
        return fields[0] === 'Z' && Number(fields[1]) === ppid;
      } catch { return false; }
    });
    assert.ok(await until(() => zombiesOf(zygote).length === 0, 3000),
      `the warm interpreter keeps ${zombiesOf(zygote).length} zombies of the session's orphans`);
    await sandbox.closeSession('orphan-maker');
  });

  // From Landlock ABI 6 a session's calls may start both, and the session
  // ends them (90.sessions runs those cases in this tier).
  it('lets a session call start no process or thread, and keeps the session, where signals are not scoped',
    { skip: SESSIONS_FORK && `this kernel scopes signals (Landlock ABI ${LANDLOCK_ABI}): session calls fork (90.sessions)` }, async () => {
    await sandbox.runPython('kept = 1', { session: 'no-procs' });
    const forked = await sandbox.runPython('import os\nos.fork()', { session: 'no-procs' });
    assert.equal(forked.status, 'error');
    assert.equal(forked.error.type, 'ProcessLimitExceeded');
    const threaded = await sandbox.runPython('import threading\nthreading.Thread(target=print).start()', { session: 'no-procs' });
    assert.equal(threaded.error.type, 'ProcessLimitExceeded');
    const after = await sandbox.runPython('kept', { session: 'no-procs' });
    assert.deepEqual([after.result, after.sessionRestarted], [1, false]);
    await sandbox.closeSession('no-procs');
  });

  it('still runs numpy-free data code with threads and subprocesses in a plain run', async () => {
    const run = await sandbox.runPython([
      'import subprocess, threading, json',
      'box = []',
      't = threading.Thread(target=lambda: box.append(1)); t.start(); t.join()',
      'out = subprocess.run(["/bin/echo", "hi"], capture_output=True, text=True).stdout',
      'json.dumps({"box": box, "out": out})',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(JSON.parse(run.result), { box: [1], out: 'hi\n' });
    assert.equal(run.isolation, 'reduced');
  });
});
