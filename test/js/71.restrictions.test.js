'use strict';

// The restrictions option (README "Restrictions"): argument checks with a
// fake addon, then the real runner through the public API. A usability layer
// on top of the jail: README "Restrictions" lists what it does not stop.

const { describe, it, before, after, beforeEach, afterEach, mock } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { skipWithoutAddon, fakeBinding } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const NETWORK = 'network access is disabled in Python nodes; fetch data with a datasource node and pass it in';
const networkMessage = (name) => `module '${name}' is not available: ${NETWORK}`;
const memberMessage = (name) => `member '${name}' is denied in Python nodes by this sandbox's restrictions ` +
  '(deniedMembers); remove it from the node or ask the operator to allow it';
const moduleMessage = (name) => `module '${name}' is denied in Python nodes by this sandbox's restrictions ` +
  '(deniedModules); remove it from the node or ask the operator to allow it';

function envOf(fake, index = 0) {
  const entry = fake.instances[index].options.extraEnv.find((e) => e.startsWith('PYCAGE_RESTRICTIONS='));
  return entry === undefined ? undefined : JSON.parse(entry.slice('PYCAGE_RESTRICTIONS='.length));
}

describe('new Sandbox({ restrictions }) argument checks', () => {
  // One fake per test: mocking an already mocked method would make
  // restoreAll() put the first fake back instead of the real addon.
  let fake;
  beforeEach(() => { fake = fakeBinding(); });
  afterEach(() => mock.restoreAll());

  const rejects = (restrictions, message) => {
    assert.throws(() => new Sandbox({ restrictions }), { code: 'ERR_INVALID_ARGUMENT', message });
  };

  it('rejects a non-object and misspelled keys with ERR_INVALID_ARGUMENT', () => {
    rejects(['socket'], "Expected plain object for restrictions but received [ 'socket' ] of type array");
    rejects({ deniedModule: ['x'] }, "Unknown option 'deniedModule' for restrictions of new Sandbox(); did you mean 'deniedModules'?");
    rejects({ allow: [] }, "Unknown option 'allow' for restrictions of new Sandbox(); expected one of " +
      "'deniedModules', 'deniedMembers', 'passthroughModules', 'mode'");
  });

  it('rejects a mode other than enforce or warn', () => {
    rejects({ mode: 'strict' }, "Expected 'enforce' or 'warn' for restrictions.mode but received 'strict' of type string");
  });

  it('rejects lists that are not arrays of dotted Python names, naming the entry', () => {
    rejects({ deniedModules: 'socket' }, 'Expected array of at most 200 dotted Python names (like ' +
      "'subprocess') for restrictions.deniedModules but received 'socket' of type string");
    rejects({ deniedModules: ['os', 'bad name'] }, 'Expected dotted Python module name of at most 128 characters ' +
      "(like 'subprocess' or 'xml.dom') for restrictions.deniedModules[1] but received 'bad name' of type string");
    rejects({ passthroughModules: ['pandas', 3] }, 'Expected dotted Python module name of at most 128 characters ' +
      "(like 'subprocess' or 'xml.dom') for restrictions.passthroughModules[1] but received 3 of type number");
    rejects({ deniedModules: ['a..b'] }, /restrictions\.deniedModules\[0\] but received 'a\.\.b'/);
    rejects({ deniedModules: ['x'.repeat(129)] }, /restrictions\.deniedModules\[0\]/);
    rejects({ deniedModules: Array.from({ length: 201 }, (_, i) => `m${i}`) }, /array of at most 200 dotted Python names/);
  });

  it('requires module.member in deniedMembers', () => {
    rejects({ deniedMembers: ['system'] }, "Expected 'module.member' name of at most 128 characters (like 'os.system' " +
      "or 'datetime.date.today') for restrictions.deniedMembers[0] but received 'system' of type string");
  });

  it('sends nothing without the option, so the runner applies its defaults', () => {
    new Sandbox();  // eslint-disable-line no-new
    assert.equal(envOf(fake), undefined);
  });

  it('sends the normalised restrictions to the zygote as PYCAGE_RESTRICTIONS', () => {
    new Sandbox({ restrictions: { deniedMembers: ['os.system', 'os.system'], passthroughModules: ['json'] } });  // eslint-disable-line no-new
    assert.deepEqual(envOf(fake), {
      deniedModules: [], deniedMembers: ['os.system'], passthroughModules: ['json'], mode: 'enforce',
    });
  });
});

describe('restrictions by default', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = new Sandbox(); });
  after(() => sandbox && sandbox.close());

  async function denied(code, name) {
    const run = await sandbox.runPython(code);
    assert.equal(run.status, 'error', `${code}: ${JSON.stringify(run.result)}`);
    assert.equal(run.error.type, 'RestrictedAccessError', `${code}: ${run.error.message}`);
    assert.equal(run.error.message, networkMessage(name), code);
    return run;
  }

  it('refuses the network modules with the friendly message, naming the node line', async () => {
    const run = await denied('x = 1\nimport socket', 'socket');
    assert.equal(run.error.line, 2);
    assert.match(run.error.traceback, /^RestrictedAccessError: module 'socket'/m);
    assert.doesNotMatch(run.error.traceback, /restrictions\.py/);
    for (const name of ['ssl', 'http.client', 'urllib.request', 'ftplib', 'smtplib', 'xmlrpc.client']) {
      await denied(`import ${name}`, name);
    }
  });

  it('sees the ways around a plain import statement', async () => {
    const attempts = [
      ['import importlib\nimportlib.import_module("socket")', 'socket'],
      ['__import__("ssl")', 'ssl'],
      ['import builtins\nbuiltins.__import__("socket")', 'socket'],
      ['globals()["__builtins__"].__import__("socket")', 'socket'],
      ['import importlib\nimportlib.__import__("socket")', 'socket'],
      ['import importlib.util\nimportlib.util.find_spec("smtplib")', 'smtplib'],
      ['exec("import socket")', 'socket'],
      ['exec("import socket", {"__name__": "json"})', 'socket'],
      ['eval("__import__(\'ssl\')")', 'ssl'],
      ['from http import client', 'http.client'],
      ['import http.client as c', 'http.client'],
      ['import http\nhttp.client', 'http.client'],
      ['def f():\n    import socket\nf()', 'socket'],
      ['import asyncio\nasyncio.open_connection', 'asyncio.open_connection'],
    ];
    for (const [code, name] of attempts) {
      const run = await sandbox.runPython(code);
      assert.equal(run.status, 'error', code);
      assert.equal(run.error.type, 'RestrictedAccessError', `${code}: ${run.error.message}`);
      assert.match(run.error.message, new RegExp(`^(module|member) '${name.replace('.', '\\.')}' is not available: ${NETWORK}$`), code);
    }
  });

  it('lets library modules import them internally', async () => {
    // logging.handlers and email.utils import socket themselves; asyncio is fine.
    const run = await sandbox.runPython([
      'import logging.handlers, email.utils, urllib.parse, asyncio',
      'async def f():',
      '    return 2',
      '[hasattr(logging.handlers, "SocketHandler"), email.utils.quote("a"), urllib.parse.quote("a b"), asyncio.run(f())]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [true, 'a', 'a%20b', 2]);
    assert.deepEqual(run.audit, []);
  });

  it('is a usability layer: sys.modules still hands out a module a library imported', async () => {
    // README "Restrictions": the jail, not this layer, keeps the node offline.
    const run = await sandbox.runPython('import sys, logging.handlers\nsys.modules["socket"].__name__');
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'socket');
  });
});

describe('restrictions from the operator', { skip: skipWithoutAddon }, () => {
  let enforce;
  let warn;
  before(() => {
    const restrictions = {
      deniedModules: ['subprocess', 'ctypes'],
      deniedMembers: ['os.system', 'datetime.date.today', 'os.path.expanduser'],
      passthroughModules: ['xml.dom.minidom', 'pycage_not_installed'],
    };
    enforce = new Sandbox({ restrictions });
    warn = new Sandbox({ restrictions: { ...restrictions, mode: 'warn' } });
  });
  after(async () => {
    if (enforce) await enforce.close();
    if (warn) await warn.close();
  });

  it('denies modules and members in enforce mode, with a message naming them', async () => {
    const cases = [
      ['import subprocess', moduleMessage('subprocess')],
      ['import ctypes.util', moduleMessage('ctypes')],
      ['import os\nos.system("true")', memberMessage('os.system')],
      ['from os import system', memberMessage('os.system')],
      ['import os\ngetattr(os, "system")', memberMessage('os.system')],
      ['import importlib\nimportlib.import_module("os").system', memberMessage('os.system')],
      ['import datetime\ndatetime.date.today()', memberMessage('datetime.date.today')],
      ['from datetime import date\ndate.today()', memberMessage('datetime.date.today')],
      ['import os.path\nos.path.expanduser("~")', memberMessage('os.path.expanduser')],
      ['exec("import os; os.system(\'true\')")', memberMessage('os.system')],
      ['import socket', networkMessage('socket')],
    ];
    for (const [code, message] of cases) {
      const run = await enforce.runPython(code);
      assert.equal(run.status, 'error', code);
      assert.deepEqual([run.error.type, run.error.message], ['RestrictedAccessError', message], code);
      assert.deepEqual(run.audit, [], 'enforce mode raises instead of auditing');
    }
  });

  it('keeps the rest of a guarded module and class working', async () => {
    const run = await enforce.runPython([
      'import os, datetime',
      'from datetime import date',
      'd = date(2024, 2, 29)',
      'class Day(date):',
      '    pass',
      '[os.path.join("a", "b"), isinstance(d, date), isinstance(datetime.datetime(2024, 1, 1), datetime.date),',
      ' Day(2024, 1, 2).isoformat(), date.fromisoformat("2024-03-01").month, os.getpid() > 0]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, ['a/b', true, true, '2024-01-02', 3, true]);
  });

  it('lets everything through in warn mode and lists it in result.audit, once per name', async () => {
    const run = await warn.runPython([
      'import os, datetime, subprocess, socket',
      'for _ in range(3):',
      '    f = os.system',
      'result = [datetime.date.today().year > 2000, subprocess.__name__, socket.__name__]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [true, 'subprocess', 'socket']);
    assert.deepEqual(run.audit, [
      { kind: 'module', name: 'subprocess', message: moduleMessage('subprocess') },
      { kind: 'module', name: 'socket', message: networkMessage('socket') },
      { kind: 'member', name: 'os.system', message: memberMessage('os.system') },
      { kind: 'member', name: 'datetime.date.today', message: memberMessage('datetime.date.today') },
    ]);
    const next = await warn.runPython('1');
    assert.deepEqual(next.audit, [], 'the audit is per run');
  });

  it('applies in sessions too, with the audit per call', async () => {
    const first = await warn.runPython('import subprocess\nkept = subprocess.__name__', { session: 'audit' });
    assert.deepEqual(first.audit.map((a) => a.name), ['subprocess']);
    const second = await warn.runPython('kept', { session: 'audit' });
    assert.deepEqual([second.result, second.audit], ['subprocess', []]);
    const denied = await enforce.runPython('import socket', { session: 'denied' });
    assert.equal(denied.error.type, 'RestrictedAccessError');
    const still = await enforce.runPython('import socket', { session: 'denied' });
    assert.deepEqual([still.error.type, still.sessionRestarted], ['RestrictedAccessError', false]);
  });

  it('returns the audit with an error too', async () => {
    const run = await warn.runPython('import subprocess\nraise KeyError("k")');
    assert.equal(run.error.type, 'KeyError');
    assert.deepEqual(run.audit.map((a) => a.name), ['subprocess']);
  });

  it('imports the passthrough modules once in the warm interpreter', async () => {
    const code = 'import sys\n["xml.dom.minidom" in sys.modules, "pycage_not_installed" in sys.modules]';
    const run = await enforce.runPython(code);
    assert.deepEqual(run.result, [true, false]);
    const plain = new Sandbox();
    try {
      assert.deepEqual((await plain.runPython(code)).result, [false, false]);
    } finally {
      await plain.close();
    }
  });
});

describe('restrictions with numpy, pandas and matplotlib in a bundle', { skip: skipWithoutAddon }, () => {
  let index;
  let sandbox;
  let dataDir;
  before(async () => {
    const { dir } = await ensureWheels({ real: true });
    index = await startIndex([dir]);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-restrictions-'));
    sandbox = new Sandbox({
      dataDir,
      index: { url: index.url },
      installer: { tool: 'pip' },
      restrictions: {
        deniedModules: ['subprocess'],
        deniedMembers: ['os.system', 'datetime.date.today', 'datetime.datetime.now'],
        passthroughModules: ['matplotlib.pyplot'],
      },
    });
    const status = await sandbox.install('wf-restricted', 'pandas\nmatplotlib\n');
    assert.equal(status.status, 'ready', status.error);
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    if (index) await index.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('imports and uses them (their own imports are not the node\'s), with pyplot passed through', async () => {
    const run = await sandbox.runPython([
      'import sys',
      'preloaded = "matplotlib.pyplot" in sys.modules',
      'import numpy as np, pandas as pd, matplotlib.pyplot as plt',
      'df = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-01-04"]), "v": np.arange(2.0)})',
      'df.plot(x="d", y="v", figsize=(2, 1))',
      'result = {"preloaded": preloaded, "days": int((df.d.iloc[1] - df.d.iloc[0]).days), "sum": df.v.sum(),',
      '          "today": str(pd.Timestamp("2024-05-06").date())}',
    ].join('\n'), { bundle: 'wf-restricted' });
    assert.equal(run.status, 'ok', `${JSON.stringify(run.error)}\n${run.stderr}`);
    assert.deepEqual(run.result, { preloaded: true, days: 3, sum: 1, today: '2024-05-06' });
    assert.equal(run.figures.length, 1);
  });

  it('still denies the node its own calls', async () => {
    const run = await sandbox.runPython('import datetime\ndatetime.datetime.now()', { bundle: 'wf-restricted' });
    assert.equal(run.error.type, 'RestrictedAccessError');
    assert.equal(run.error.message, memberMessage('datetime.datetime.now'));
  });
});
