'use strict';

// How the package finds its native binaries, and what a host without a usable
// prebuilt binary is told. The loader is exercised on a copy of js/ laid out
// as an installed package, so the checkout's own build does not interfere.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '../..');

function installedCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-loader-'));
  fs.cpSync(path.join(ROOT, 'js'), path.join(dir, 'js'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  return dir;
}

function loadIn(dir) {
  const script = `try { require(${JSON.stringify(path.join(dir, 'js', 'native.js'))}).load(); console.log('loaded'); }
    catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message })); }`;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim() === 'loaded' ? 'loaded' : JSON.parse(out.stdout);
}

describe('the native loader', () => {
  const dirs = [];
  after(() => { for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true }); });

  it('explains, with the fix, when the package has no binary for this platform', () => {
    const dir = installedCopy();
    dirs.push(dir);
    const err = loadIn(dir);
    assert.equal(err.name, 'PycageError');
    assert.equal(err.code, 'ERR_INTERNAL');
    assert.match(err.message, /no binary for linux-x64 in .*prebuilds\/linux-x64 and no build in .*build\/Release/);
    assert.match(err.message, /npx pycage build/);
  });

  it('names the prebuilt binary that failed to load and why, then how to build from source', () => {
    const dir = installedCopy();
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'prebuilds', 'linux-x64', 'pycage.node'), 'not an ELF file');
    const err = loadIn(dir);
    assert.equal(err.code, 'ERR_INTERNAL');
    assert.match(err.message, /prebuilt .*prebuilds\/linux-x64\/pycage\.node: .*(invalid ELF header|too short)/);
    assert.match(err.message, /Build from source: npx pycage build/);
  });
});

describe('npx pycage build', () => {
  it('stops before compiling anything, naming every missing Debian package in one message', () => {
    // A PATH with Node only: no compiler, no cmake, no pkg-config.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-nobuild-'));
    try {
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      const out = spawnSync(process.execPath, [path.join(ROOT, 'js', 'cli.js'), 'build'], {
        encoding: 'utf8', env: { PATH: bin, HOME: os.tmpdir() },
      });
      assert.equal(out.status, 1);
      assert.equal(out.stdout, '');
      const lines = out.stderr.trim().split('\n');
      assert.match(lines[0], /^pycage build: cannot build the native addon from source; missing:$/);
      assert.ok(lines.includes('  - a C++20 compiler (c++) (Debian package build-essential)'), out.stderr);
      assert.ok(lines.includes('  - cmake (Debian package cmake)'), out.stderr);
      assert.ok(lines.includes('  - pkg-config (Debian package pkg-config)'), out.stderr);
      assert.match(out.stderr, /^Fix: apt-get install build-essential cmake pkg-config\b/m);
      assert.ok(lines.length < 12, `expected one short message, got ${lines.length} lines`);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it('names the missing -dev packages when the compiler is there but their headers and archives are not', (t) => {
    // The headers and static archives hidden in a private mount namespace, as
    // on a host where only build-essential, cmake and pkg-config were installed.
    const unshare = spawnSync('unshare', ['-m', '--propagation', 'private', 'true']);
    if (process.getuid() !== 0 || unshare.status !== 0) {
      t.skip('hiding /usr/include needs root and unshare(1)');
      return;
    }
    const hide = ['/usr/include', '/usr/local/include', '/usr/lib/x86_64-linux-gnu/libseccomp.a',
      '/usr/lib/x86_64-linux-gnu/libuv_a.a', '/usr/lib/x86_64-linux-gnu/libuv.a']
      .filter((p) => fs.existsSync(p))
      .map((p) => (fs.statSync(p).isDirectory() ? `mount -t tmpfs none ${p}` : `mount --bind /dev/null ${p}`));
    const nodeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-nodedir-'));
    try {
      // A nodedir without headers, so the Node binary's own include/ is not found either.
      const script = `${hide.join(' && ')} && exec "$0" "$@"`;
      const out = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script,
        process.execPath, path.join(ROOT, 'js', 'cli.js'), 'build'], {
        encoding: 'utf8', env: { PATH: process.env.PATH, HOME: os.tmpdir(), npm_config_nodedir: nodeDir },
      });
      assert.equal(out.status, 1, out.stderr);
      const lines = out.stderr.trim().split('\n');
      assert.match(lines[0], /^pycage build: cannot build the native addon from source; missing:$/);
      assert.ok(lines.includes('  - seccomp.h and libseccomp.a (Debian package libseccomp-dev)'), out.stderr);
      assert.ok(lines.includes('  - uv.h and libuv_a.a (Debian package libuv1-dev)'), out.stderr);
      assert.ok(!lines.some((l) => /build-essential|Debian package cmake\)/.test(l)), out.stderr);
      assert.match(out.stderr, /^Fix: apt-get install .*libseccomp-dev libuv1-dev/m);
    } finally {
      fs.rmSync(nodeDir, { recursive: true, force: true });
    }
  });

  it('says what it does when asked for help, and refuses an unknown command', () => {
    const help = spawnSync(process.execPath, [path.join(ROOT, 'js', 'cli.js'), '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: pycage build/);
    const bad = spawnSync(process.execPath, [path.join(ROOT, 'js', 'cli.js'), 'frobnicate'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command 'frobnicate'/);
  });
});
