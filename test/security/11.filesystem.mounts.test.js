'use strict';

// Every mount of the jail, /proc, /dev, the fds a run inherits and /tmp
// exhaustion, seen from inside a run.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { skipWithoutAddon, fullSandbox, TIER, onlyInFull } = require('./common');

const EACCES = 13;
const ENOENT = 2;
const ENOSPC = 28;
const EROFS = 30;

describe('security: mounts, /proc, /dev and /tmp', { skip: skipWithoutAddon }, () => {
  let sandbox;
  let secretDir;
  const secret = `pycage-secret-${crypto.randomBytes(8).toString('hex')}`;
  before(() => {
    secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-secret-'));
    fs.writeFileSync(path.join(secretDir, 'secret.txt'), secret, { mode: 0o644 });
    sandbox = fullSandbox();
  });
  after(async () => {
    fs.rmSync(secretDir, { recursive: true, force: true });
    if (sandbox) await sandbox.close();
  });

  it('cannot write below any mount point but /tmp, nested ones included', { skip: onlyInFull('no mount namespace; what the reduced tier may write is its scratch directory only (14.reduced)') }, async () => {
    const run = await sandbox.runPython([
      'import os',
      'out = {}',
      'for line in open("/proc/self/mountinfo"):',
      '    mount_point = line.split()[4]',
      '    target = mount_point if not os.path.isdir(mount_point) else os.path.join(mount_point, "pycage-pwned")',
      '    try:',
      '        with open(target, "a") as f: f.write("x")',
      '        out[mount_point] = "WRITTEN"',
      '    except OSError as e:',
      '        out[mount_point] = e.errno',
      'for extra in ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger", "/dev/pycage-node"):',
      '    try:',
      '        with open(extra, "w") as f: f.write("1")',
      '        out[extra] = "WRITTEN"',
      '    except OSError as e:',
      '        out[extra] = e.errno',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const mounts = Object.keys(run.result);
    for (const expected of ['/', '/usr', '/proc', '/dev', '/tmp', '/pycage/runner']) assert.ok(mounts.includes(expected), expected);
    for (const [where, outcome] of Object.entries(run.result)) {
      if (where === '/tmp') assert.equal(outcome, 'WRITTEN');
      // /dev/null and friends are the host's device nodes: writing to them is harmless.
      else if (/^\/dev\/(null|zero|full|random|urandom)$/.test(where)) continue;
      else assert.ok([EROFS, EACCES, ENOENT].includes(outcome), `${where}: ${outcome}`);
    }
  });

  it("sees only its own processes in /proc, not the host's, the zygote or other runs", { skip: onlyInFull('no procfs of its own: /proc is out of reach altogether (14.reduced)') }, async () => {
    const hostPid = process.pid;
    const run = await sandbox.runPython([
      'import os',
      'pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())',
      `host = os.path.exists("/proc/${hostPid}/cmdline")`,
      'cmdline = open("/proc/1/cmdline", "rb").read()',
      'result = {"pids": pids, "host": host, "self": os.getpid(), "ppid": os.getppid(), "init": cmdline.split(b"\\0")[0].decode()}',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    // The run is pid 1 of its own pid namespace; its parent (the zygote) is outside it.
    assert.deepEqual(run.result.pids, [1]);
    assert.equal(run.result.self, 1);
    assert.equal(run.result.ppid, 0);
    assert.equal(run.result.host, hostPid === 1);
  });

  it('cannot reach host files through /proc/*/root, /proc/*/cwd or a secret dir', async () => {
    const file = path.join(secretDir, 'secret.txt');
    const run = await sandbox.runPython([
      'out = {}',
      `for p in (${JSON.stringify(file)}, "/proc/1/root${file}", "/proc/self/cwd${file}", "/proc/self/root${file}", "/etc/shadow", "/root/.bash_history"):`,
      '    try:',
      '        out[p] = "READ:" + open(p).read()',
      '    except OSError as e:',
      '        out[p] = e.errno',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    // Not there (full: its own root), or out of reach (reduced: Landlock;
    // /proc/self/cwd is its own scratch directory, where the path is not).
    const refused = TIER === 'full' ? [ENOENT] : [EACCES, ENOENT];
    for (const [p, outcome] of Object.entries(run.result)) assert.ok(refused.includes(outcome), `${p}: ${outcome}`);
    assert.doesNotMatch(JSON.stringify(run), new RegExp(secret));
  });

  it('has a /dev of harmless character devices only: no block device, /dev/mem, tty or console', { skip: onlyInFull('the host /dev is out of reach but for null, zero, full, random and urandom (14.reduced)') }, async () => {
    const run = await sandbox.runPython([
      'import os, stat',
      'nodes = {}',
      'for name in sorted(os.listdir("/dev")):',
      '    st = os.lstat("/dev/" + name)',
      '    nodes[name] = "chr" if stat.S_ISCHR(st.st_mode) else "blk" if stat.S_ISBLK(st.st_mode) else "lnk" if stat.S_ISLNK(st.st_mode) else "other"',
      'opened = {}',
      'for p in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/tty", "/dev/console", "/dev/ptmx", "/dev/kmsg", "/dev/sda", "/dev/vda"):',
      '    try:',
      '        os.close(os.open(p, os.O_RDONLY)); opened[p] = "OPEN"',
      '    except OSError as e:',
      '        opened[p] = e.errno',
      'try:',
      '    os.mknod("/tmp/blk", 0o600 | stat.S_IFBLK, os.makedev(8, 0)); made = "MADE"',
      'except OSError as e:',
      '    made = e.errno',
      'result = {"nodes": nodes, "opened": opened, "mknod": made}',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result.nodes, {
      fd: 'lnk', full: 'chr', null: 'chr', random: 'chr', stderr: 'lnk', stdin: 'lnk', stdout: 'lnk', urandom: 'chr', zero: 'chr',
    });
    for (const [p, outcome] of Object.entries(run.result.opened)) assert.equal(outcome, ENOENT, p);
    assert.equal(run.result.mknod, 1, 'mknod of a block device: EPERM');
  });

  it('inherits only fds 0-3: /dev/null, the stdout and stderr pipes and the result socket', async () => {
    const run = await sandbox.runPython([
      'import os, stat',
      'fds = {}',
      'for fd in range(0, 1024):',
      '    try:',
      '        st = os.fstat(fd)',
      '    except OSError:',
      '        continue',
      '    fds[fd] = "chr" if stat.S_ISCHR(st.st_mode) else "fifo" if stat.S_ISFIFO(st.st_mode) else "sock" if stat.S_ISSOCK(st.st_mode) else "other"',
      'result = fds',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, { 0: 'chr', 1: 'fifo', 2: 'fifo', 3: 'sock' });
  });

  it('gives a clear ENOSPC when /tmp runs out of bytes, and the next run has a fresh /tmp', { skip: onlyInFull('no tmpfs: tmpBytes is not enforced, fileSizeBytes caps each file (SECURITY.md)') }, async () => {
    const run = await sandbox.runPython([
      'import os',
      'chunk = b"x" * (512 * 1024)',
      'written = 0',
      'try:',
      '    for i in range(100):',
      '        with open(f"/tmp/f{i}", "wb") as f: f.write(chunk)',
      '        written += len(chunk)',
      '    result = ["NO LIMIT", written]',
      'except OSError as e:',
      '    result = [e.errno, written]',
    ].join('\n'), { limits: { tmpBytes: 4 * 1024 * 1024 } });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result[0], ENOSPC);
    assert.ok(run.result[1] <= 4 * 1024 * 1024, `wrote ${run.result[1]} bytes into a 4 MiB /tmp`);
    const next = await sandbox.runPython('import os\nst = os.statvfs("/tmp")\n[os.listdir("/tmp"), st.f_bfree == st.f_blocks]');
    assert.equal(next.status, 'ok', JSON.stringify(next.error));
    assert.deepEqual(next.result, [[], true]);
  });

  it('gives a clear ENOSPC when /tmp runs out of inodes (one per KiB of tmpBytes), and the next run is unaffected', { skip: onlyInFull('no tmpfs: the scratch directory has no inode cap (SECURITY.md)') }, async () => {
    const run = await sandbox.runPython([
      'n = 0',
      'try:',
      '    while n < 100000:',
      '        open(f"/tmp/{n}", "w").close()',
      '        n += 1',
      '    result = ["NO LIMIT", n]',
      'except OSError as e:',
      '    result = [e.errno, n]',
    ].join('\n'), { limits: { tmpBytes: 4 * 1024 * 1024 } });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    // 4 MiB / 1 KiB = 4096 inodes, the root directory being one of them.
    assert.deepEqual(run.result, [ENOSPC, 4095]);
    const next = await sandbox.runPython('import os\nopen("/tmp/a", "w").write("ok")\n[os.listdir("/tmp"), open("/tmp/a").read()]');
    assert.equal(next.status, 'ok', JSON.stringify(next.error));
    assert.deepEqual(next.result, [['a'], 'ok']);
  });
});
