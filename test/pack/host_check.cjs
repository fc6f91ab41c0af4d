'use strict';
// Run by .ci/packcheck.sh from inside a fresh host project where the packed
// tarball was installed with --ignore-scripts and no compiler on PATH. Uses
// only the public API of the installed package.
//   env: PYCAGE_SUPPORT_DIR (the repo's test/support, for the local index)

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Sandbox, PycageError } = require('pycage');
const { createPythonExecutor } = require('pycage/tooljet');
const { ensureWheels } = require(path.join(process.env.PYCAGE_SUPPORT_DIR, 'wheels.js'));
const { startIndex } = require(path.join(process.env.PYCAGE_SUPPORT_DIR, 'index_server.js'));

async function main() {
  // The package came from the tarball: its prebuilt binaries, or (with
  // PYCAGE_EXPECT_BUILD=source) the build `npx pycage build` made of its sources.
  const pkgDir = path.dirname(require.resolve('pycage/package.json'));
  assert.ok(pkgDir.startsWith(process.cwd()), `pycage resolved outside the host project: ${pkgDir}`);
  if (process.env.PYCAGE_EXPECT_BUILD === 'source') {
    assert.ok(fs.existsSync(path.join(pkgDir, 'build', 'Release', 'pycage.node')), 'no source build in the package');
  } else {
    assert.equal(fs.existsSync(path.join(pkgDir, 'build')), false, 'the installed package has a build/ directory');
    assert.ok(fs.existsSync(path.join(pkgDir, 'prebuilds', 'linux-x64', 'pycage.node')));
  }
  assert.equal(fs.existsSync(path.join(pkgDir, 'test')), false, 'the tarball ships tests');

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-host-'));
  const wheels = await ensureWheels();
  const index = await startIndex([wheels.dir]);
  const sandbox = new Sandbox({ dataDir, index: { url: index.url } });
  try {
    // 1. a node through the ToolJet adapter
    const executor = createPythonExecutor(sandbox);
    const node = await executor.execute('total = sum(o["amount"] for o in getOrders["data"])\ntotal * 2',
      { getOrders: { data: [{ amount: 3 }, { amount: 4 }] } }, null, 5000);
    assert.equal(node.status, 'ok', JSON.stringify(node));
    assert.equal(node.data, 14);

    // 2. an install from the local index, then a run against the bundle
    const status = await sandbox.install('host-v1', 'pycage-hello==2.0\n');
    assert.equal(status.status, 'ready', JSON.stringify(status));
    assert.deepEqual(status.packages, [{ name: 'pycage-hello', version: '2.0' }]);
    const run = await sandbox.runPython('import pycage_hello\npycage_hello.greet(who)', { bundle: 'host-v1', inputs: { who: 'host' } });
    assert.equal(run.result, 'hello host', JSON.stringify(run));

    // 3. a session keeps its state between calls
    await sandbox.runPython('n = 40', { session: 'host-s' });
    const call = await sandbox.runPython('n += 2\nn', { session: 'host-s' });
    assert.equal(call.result, 42);
    assert.equal(call.sessionRestarted, false);
    assert.equal(await sandbox.closeSession('host-s'), true);

    // 4. a caller's mistake is a PycageError with a code
    await assert.rejects(sandbox.runPython(42), (err) => err instanceof PycageError && err.code === 'ERR_INVALID_ARGUMENT');
    process.stdout.write(`host check (CommonJS) passed under Node ${process.version}, isolation ${run.isolation}\n`);
  } finally {
    await sandbox.close();
    await index.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack || err}\n`);
  process.exit(1);
});
