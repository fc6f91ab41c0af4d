'use strict';

// The isolation tiers as values: one table (native/runner/profiles.json) that
// JS, the runner and the C++ build each read, with every property documented.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { PROFILES, PROPERTIES, profileOf } = require('../../js/profiles');

const ROOT = path.resolve(__dirname, '../..');
const TABLE = JSON.parse(fs.readFileSync(path.join(ROOT, 'native', 'runner', 'profiles.json'), 'utf8'));

describe('isolation profiles (native/runner/profiles.json)', () => {
  it('gives every tier a boolean for every documented property, and nothing undocumented', () => {
    assert.deepEqual(Object.keys(PROFILES).sort(), ['bypass', 'full', 'reduced']);
    for (const profile of Object.values(PROFILES)) {
      assert.deepEqual(Object.keys(profile).filter((k) => k !== 'name').sort(), [...PROPERTIES].sort(), profile.name);
      for (const property of PROPERTIES) assert.equal(typeof profile[property], 'boolean', `${profile.name}.${property}`);
    }
    for (const property of PROPERTIES) assert.ok(TABLE.properties[property].length > 20, property);
  });

  it('describes the tiers as the README does: full jails with namespaces, reduced with Landlock, bypass nothing', () => {
    assert.ok(PROPERTIES.every((p) => profileOf('full')[p] === (p !== 'landlockFs')));
    assert.ok(PROPERTIES.every((p) => profileOf('bypass')[p] === false));
    const reduced = PROPERTIES.filter((p) => profileOf('reduced')[p]).sort();
    assert.deepEqual(reduced, ['dropsCapabilities', 'landlockFs', 'seccomp']);
    assert.throws(() => profileOf('none'), /no isolation profile named 'none'/);
  });

  it('is what the runner reads', () => {
    const python = process.env.PYCAGE_PYTHON || 'python3';
    const script = 'import json, profiles; print(json.dumps({n: {k: getattr(p, k) for k in p.__slots__} for n, p in profiles.PROFILES.items()}))';
    const fromPython = JSON.parse(execFileSync(python, ['-I', '-S', '-c', `import sys; sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'native', 'runner'))}); ${script}`], { encoding: 'utf8' }));
    const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const [name, profile] of Object.entries(PROFILES)) {
      for (const [key, value] of Object.entries(profile)) assert.equal(fromPython[name][snake(key)], value, `${name}.${key}`);
    }
  });

  const header = path.join(ROOT, 'build', 'generated', 'common', 'isolation_profiles_table.h');
  it('is what the C++ build expands, row for row', { skip: !fs.existsSync(header) && 'no source build' }, () => {
    const text = fs.readFileSync(header, 'utf8');
    const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const profile of Object.values(PROFILES)) {
      const row = text.split('\n').find((line) => line.includes(`.name = "${profile.name}"`));
      assert.ok(row, `no C++ row for ${profile.name}`);
      for (const p of PROPERTIES) assert.ok(row.includes(`.${snake(p)} = ${profile[p]}`), `${profile.name}.${p} in ${row}`);
      assert.equal((row.match(/ = (true|false)/g) || []).length, PROPERTIES.length);
    }
  });
});
