'use strict';

// Restrictions are a usability layer, not a boundary (README "Restrictions").
// A member denied on a class is denied where the node's code names it
// through the class, not on instances of that class nor on its subclasses:
// README "What it does not stop" lists this, and these cases hold it to what
// it says. What stops a determined node is the jail.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { skipWithoutAddon, fullSandbox } = require('./common');

describe('security: restrictions on class members and instances', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => {
    sandbox = fullSandbox({ restrictions: { deniedMembers: ['datetime.date.today', 'zipfile.ZipFile.extractall'] } });
  });
  after(() => sandbox && sandbox.close());

  it('denies the member where the node names it through the class', async () => {
    const run = await sandbox.runPython('import datetime\ndatetime.date.today()');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'RestrictedAccessError');
    assert.match(run.error.message, /datetime\.date\.today/);
  });

  it('does not follow instances and subclasses (the documented gap)', async () => {
    const run = await sandbox.runPython([
      'import datetime, io, zipfile',
      'buf = io.BytesIO()',
      'with zipfile.ZipFile(buf, "w") as z:',
      '    z.writestr("a.txt", "x")',
      'import tempfile, os.path',
      'out = os.path.join(tempfile.gettempdir(), "out")',
      'zipfile.ZipFile(io.BytesIO(buf.getvalue())).extractall(out)',
      'result = [type(datetime.date(2020, 1, 1).today()).__name__, type(datetime.datetime.today()).__name__,',
      '          type(datetime.datetime(2020, 1, 1).now()).__name__, open(os.path.join(out, "a.txt")).read()]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, ['date', 'datetime', 'datetime', 'x']);
  });

  it('denies datetime.datetime.now named through the class, not through an instance (the same gap)', async () => {
    const now = fullSandbox({ restrictions: { deniedMembers: ['datetime.datetime.now'] } });
    try {
      const named = await now.runPython('import datetime\ndatetime.datetime.now()');
      assert.equal(named.status, 'error');
      assert.equal(named.error.type, 'RestrictedAccessError');
      const viaInstance = await now.runPython('import datetime\ntype(datetime.datetime(2020, 1, 1).now()).__name__');
      assert.equal(viaInstance.status, 'ok', JSON.stringify(viaInstance.error));
      assert.equal(viaInstance.result, 'datetime');
    } finally {
      await now.close();
    }
  });
});
