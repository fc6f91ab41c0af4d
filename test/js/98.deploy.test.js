'use strict';

// The deployment kit in deploy/: the seccomp profile generator and its
// additions, and the systemd unit (verified by systemd-analyze when present).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { withAdditions, ADDITIONS } = require('../../deploy/docker/seccomp-profile');

const DEPLOY = path.join(__dirname, '..', '..', 'deploy');
const GENERATOR = path.join(DEPLOY, 'docker', 'seccomp-profile.js');

// The shape of Docker's default profile, cut down: a plain allow list, and
// clone() allowed only without namespace flags unless CAP_SYS_ADMIN.
const BASE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
  syscalls: [
    { names: ['read', 'write', 'pidfd_open', 'pidfd_send_signal'], action: 'SCMP_ACT_ALLOW' },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['mount', 'umount2', 'unshare'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
  ],
};

describe('deploy/docker: the seccomp profile for the full tier', () => {
  const additions = JSON.parse(fs.readFileSync(ADDITIONS, 'utf8'));

  it('lists each addition with a reason', () => {
    assert.ok(additions.syscalls.length > 0);
    for (const rule of additions.syscalls) {
      assert.ok(Array.isArray(rule.names) && rule.names.length > 0, JSON.stringify(rule));
      assert.equal(rule.action, 'SCMP_ACT_ALLOW');
      assert.ok(typeof rule.comment === 'string' && rule.comment.length > 40, `${rule.names} needs a comment`);
    }
    const names = additions.syscalls.flatMap((rule) => rule.names);
    for (const needed of ['clone', 'unshare', 'mount', 'umount2', 'pivot_root', 'landlock_restrict_self']) {
      assert.ok(names.includes(needed), needed);
    }
  });

  it("appends the additions to Docker's profile, keeping its rules and skipping what it already allows", () => {
    const profile = withAdditions(BASE, additions);
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(profile.archMap, BASE.archMap);
    assert.deepEqual(profile.syscalls.slice(0, BASE.syscalls.length), BASE.syscalls);
    const added = profile.syscalls.slice(BASE.syscalls.length);
    assert.ok(added.every((rule) => rule.comment.startsWith('pycage: ')));
    const addedNames = added.flatMap((rule) => rule.names);
    // clone and mount were allowed only with conditions: the plain rule is added.
    for (const name of ['clone', 'unshare', 'mount', 'umount2', 'pivot_root']) assert.ok(addedNames.includes(name), name);
    // pidfd_* were allowed plainly already.
    assert.ok(!addedNames.includes('pidfd_open'));
  });

  it('refuses a file that is not a seccomp profile, and prints usage without one', () => {
    assert.throws(() => withAdditions({ syscalls: 'x' }, additions), /must be a Docker seccomp profile/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-deploy-'));
    try {
      const base = path.join(dir, 'default.json');
      fs.writeFileSync(base, JSON.stringify(BASE));
      const ok = spawnSync(process.execPath, [GENERATOR, base], { encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.ok(JSON.parse(ok.stdout).syscalls.length > BASE.syscalls.length);
      fs.writeFileSync(base, '{"defaultAction": 1}');
      const bad = spawnSync(process.execPath, [GENERATOR, base], { encoding: 'utf8' });
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /must be a Docker seccomp profile/);
      const usage = spawnSync(process.execPath, [GENERATOR], { encoding: 'utf8' });
      assert.equal(usage.status, 2);
      assert.match(usage.stderr, /^usage: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/systemd', () => {
  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'systemd-analyze is not installed';
  it('the unit passes systemd-analyze verify', { skip: analyze }, () => {
    const out = spawnSync('systemd-analyze', ['verify', path.join(DEPLOY, 'systemd', 'workflows.service')],
      { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.doesNotMatch(out.stderr, /Unknown key|Invalid|Failed/);
  });
});
