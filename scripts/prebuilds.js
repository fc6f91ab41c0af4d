#!/usr/bin/env node
'use strict';

// Runs before `npm pack` / `npm publish` (the "prepack" script): builds the
// Release binaries and copies them into prebuilds/<platform>-<arch>/, the
// directory the loader takes when the package has no build of its own. The
// binaries are stripped of symbols they do not need at run time.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
// pycage-confine.so: each run's own jail, loaded by the zygote inside the jail.
const FILES = ['pycage.node', 'pycage-jail', 'pycage-confine.so'];

function run(command, args) {
  const res = spawnSync(command, args, { stdio: 'inherit' });
  if (res.status !== 0) {
    process.stderr.write(`prebuilds: ${command} ${args.join(' ')} failed\n`);
    process.exit(res.status === null ? 1 : res.status);
  }
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  process.stderr.write(`prebuilds: the package ships linux-x64 binaries; this is ${process.platform}-${process.arch}\n`);
  process.exit(1);
}
run(process.execPath, [path.join(__dirname, 'build.js')]);
const out = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const name of FILES) {
  const dest = path.join(out, name);
  fs.copyFileSync(path.join(ROOT, 'build', 'Release', name), dest);
  run('strip', ['--strip-unneeded', dest]);
  fs.chmodSync(dest, 0o755);
}
process.stdout.write(`prebuilds: ${FILES.join(', ')} -> ${path.relative(ROOT, out)}/\n`);
