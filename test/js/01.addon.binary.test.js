'use strict';

// The native binaries bind to nothing of the process that loads them. Node
// 22 and 24 export their own simdjson; an addon that left simdjson symbols
// for the dynamic linker crashed the host on its first run. These checks run
// on the binaries the loader takes (a source build or the prebuilt ones).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const native = require('../../js/native');
const { skipWithoutAddon } = require('./common');

const addon = native.ADDON_PATH;
const helper = addon && path.join(path.dirname(addon), 'pycage-jail');
const confine = addon && path.join(path.dirname(addon), 'pycage-confine.so');
// The glibc shared objects a binary may need; nothing else.
const GLIBC_LIBS = /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/;
const NODE_API = /^(napi_|node_api_)/;

function tool(command, args) {
  return execFileSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function versionAtMost(version, floor) {
  const a = version.split('.').map(Number);
  const b = floor.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0);
  }
  return true;
}

describe('native binaries', { skip: skipWithoutAddon }, () => {
  it('the addon exports only the Node-API registration entry points', () => {
    const exported = tool('nm', ['-D', '--defined-only', addon]).trim().split('\n')
      .map((line) => line.trim().split(/\s+/).pop()).sort();
    assert.deepEqual(exported, ['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
  });

  it('the addon imports only Node-API functions and versioned glibc symbols', () => {
    const foreign = tool('nm', ['-D', '--undefined-only', addon]).trim().split('\n')
      .map((line) => line.trim().split(/\s+/))
      // Weak references (w) to the transactional-memory runtime and gprof
      // resolve to null when absent; Node exports none of them.
      .filter(([kind, name]) => !(kind === 'w' && /^(_ITM_|__gmon_start__|_ZGTt)/.test(name)))
      .map((fields) => fields.pop())
      .filter((name) => !NODE_API.test(name) && !/@GLIBC_\d/.test(name));
    assert.deepEqual(foreign, [], `symbols left for the loading process to provide: ${foreign.join(' ')}`);
  });

  it('pycage-confine.so exports its five C calls and nothing else', () => {
    const exported = tool('nm', ['-D', '--defined-only', confine]).trim().split('\n')
      .map((line) => line.trim().split(/\s+/).pop())
      .filter((name) => name && !name.startsWith('_'));
    assert.deepEqual(exported.sort(), ['pycage_fork_server_request', 'pycage_fork_server_serve', 'pycage_reduced_confine',
      'pycage_run_clone', 'pycage_run_confine']);
  });

  for (const [label, file] of [['the addon', addon], ['pycage-jail', helper], ['pycage-confine.so', confine]]) {
    it(`${label} needs nothing at run time beyond glibc (ldd)`, () => {
      const needed = tool('ldd', [file]).trim().split('\n')
        .map((line) => line.trim().split(/\s+/)[0])
        .filter((name) => !GLIBC_LIBS.test(name));
      assert.deepEqual(needed, [], `${file} needs ${needed.join(', ')}`);
    });

    it(`${label} needs no glibc newer than the documented floor ${native.GLIBC_FLOOR}`, () => {
      const versions = [...tool('objdump', ['-T', file]).matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]);
      assert.ok(versions.length > 0, 'objdump found no versioned glibc symbol');
      const tooNew = [...new Set(versions)].filter((v) => !versionAtMost(v, native.GLIBC_FLOOR));
      assert.deepEqual(tooNew, [], `${file} needs glibc ${tooNew.join(', ')}`);
    });
  }

  it('loaded into this Node, every symbol the addon binds comes from glibc or is a Node-API function', () => {
    // The dynamic linker's own account of each binding (LD_DEBUG=bindings).
    const child = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon)})`], {
      encoding: 'utf8', env: { ...process.env, LD_DEBUG: 'bindings' }, maxBuffer: 256 << 20,
    });
    assert.equal(child.status, 0, child.stderr.slice(-2000));
    const fromAddon = child.stderr.split('\n')
      .map((line) => /binding file (\S+) \[\d+\] to (\S+) \[\d+\]: \S+ symbol `([^']+)'/.exec(line))
      .filter((m) => m && m[1] === addon);
    assert.ok(fromAddon.some((m) => m[3] === 'napi_create_function'), 'no Node-API binding seen: LD_DEBUG gave no account');
    // glibc's data symbols (in6addr_any, stderr…) live in the executable by
    // copy relocation: bound "to node", they are still glibc's.
    const glibcImports = new Set(tool('nm', ['-D', '--undefined-only', addon]).split('\n')
      .map((line) => /(\S+)@GLIBC_\d/.exec(line)).filter(Boolean).map((m) => m[1]));
    const wrong = fromAddon
      .filter(([, , target, symbol]) => !(target === addon || GLIBC_LIBS.test(path.basename(target)) || glibcImports.has(symbol) ||
        (target === process.execPath && NODE_API.test(symbol))))
      .map(([, , target, symbol]) => `${symbol} -> ${target}`);
    assert.deepEqual(wrong, []);
  });
});
