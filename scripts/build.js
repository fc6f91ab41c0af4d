#!/usr/bin/env node
'use strict';

// Builds the addon and pycage-jail from source into build/Release with plain
// CMake. Used by `npm run build` in a checkout, by `npm run prebuild` (which
// then copies the result into prebuilds/), and by a host whose platform has
// no prebuilt binary (`npx pycage build`). Before anything is compiled it
// checks what the build needs and names every missing Debian package in one
// message, instead of a page of CMake output.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

function onPath(name) {
  for (const dir of String(process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch { /* not here */ }
  }
  return false;
}

function anyExists(paths) {
  return paths.find((p) => fs.existsSync(p)) || null;
}

function libDirs() {
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
}

// Node's own headers: npm's nodedir, the official binary layout
// (<prefix>/include/node next to <prefix>/bin/node), then Debian's libnode-dev.
function nodeIncludeDir() {
  const candidates = [];
  if (process.env.npm_config_nodedir) candidates.push(path.join(process.env.npm_config_nodedir, 'include', 'node'));
  candidates.push(path.resolve(path.dirname(process.execPath), '..', 'include', 'node'));
  candidates.push('/usr/include/node', '/usr/local/include/node');
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h'))) || null;
}

function nodeAddonApiDir() {
  try {
    return path.dirname(require.resolve('node-addon-api/package.json', { paths: [ROOT] }));
  } catch {
    return null;
  }
}

// Each requirement: what is checked, and the Debian package that provides it.
function missingRequirements() {
  const missing = [];
  const need = (ok, pkg, what) => { if (!ok) missing.push({ pkg, what }); };
  need(onPath('c++') || onPath('g++'), 'build-essential', 'a C++20 compiler (c++)');
  need(onPath('cmake'), 'cmake', 'cmake');
  need(onPath('pkg-config') || onPath('pkgconf'), 'pkg-config', 'pkg-config');
  need(anyExists(['/usr/include/seccomp.h', '/usr/local/include/seccomp.h']) &&
       anyExists(libDirs().map((d) => path.join(d, 'libseccomp.a'))), 'libseccomp-dev', 'seccomp.h and libseccomp.a');
  need(anyExists(['/usr/include/uv.h', '/usr/local/include/uv.h']) &&
       anyExists(libDirs().flatMap((d) => [path.join(d, 'libuv_a.a'), path.join(d, 'libuv.a')])), 'libuv1-dev', 'uv.h and libuv_a.a');
  need(nodeIncludeDir() !== null, 'libnode-dev', "Node's headers (node_api.h), or set npm_config_nodedir to a Node install");
  return missing;
}

function fail(lines) {
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(1);
}

function main() {
  const args = process.argv.slice(2);
  const debug = args.includes('--debug');
  if (process.platform !== 'linux') {
    fail([`pycage build: pycage runs on Linux only; this is ${process.platform}-${process.arch}.`]);
  }
  const missing = missingRequirements();
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    fail([
      'pycage build: cannot build the native addon from source; missing:',
      ...missing.map((m) => `  - ${m.what} (Debian package ${m.pkg})`),
      `Fix: apt-get install ${pkgs.join(' ')}`,
      '(or use a linux-x64 glibc host, where the package carries prebuilt binaries and needs no build)',
    ]);
  }
  const addonApi = nodeAddonApiDir();
  if (addonApi === null) {
    fail(['pycage build: node-addon-api is not installed; run `npm install node-addon-api` in this project, then build again.']);
  }
  const buildDir = path.join(ROOT, 'build');
  const outDir = path.join(buildDir, 'Release');
  const generator = onPath('ninja') ? ['-G', 'Ninja'] : [];
  const configure = [
    '-S', ROOT, '-B', buildDir, ...generator,
    `-DCMAKE_BUILD_TYPE=${debug ? 'Debug' : 'Release'}`,
    '-DPYCAGE_BUILD_ADDON=ON',
    `-DNODE_INCLUDE_DIR=${nodeIncludeDir()}`,
    `-DNODE_ADDON_API_DIR=${addonApi}`,
    `-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=${outDir}`,
  ];
  const run = (argv) => {
    const res = spawnSync('cmake', argv, { stdio: 'inherit' });
    if (res.status !== 0) process.exit(res.status === null ? 1 : res.status);
  };
  run(configure);
  run(['--build', buildDir, '--parallel', String(Math.max(1, require('node:os').availableParallelism()))]);
}

main();
