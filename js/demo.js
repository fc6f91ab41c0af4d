'use strict';

// A few Python workflow nodes, run the way a low-code platform would: the
// previous nodes' outputs come in as globals, the node's result goes out.

const { performance } = require('node:perf_hooks');
const { Sandbox } = require('./index');

const getOrders = {
  data: [
    { id: 1, customer: 'ada', amount: 120.5, status: 'paid' },
    { id: 2, customer: 'bob', amount: 80, status: 'refunded' },
    { id: 3, customer: 'ada', amount: 42.25, status: 'paid' },
    { id: 4, customer: 'cyd', amount: 310, status: 'paid' },
  ],
};

const nodes = [
  {
    name: 'totals (inputs become a result)',
    code: [
      'paid = [o for o in getOrders["data"] if o["status"] == "paid"]',
      'by_customer = {}',
      'for o in paid:',
      '    by_customer[o["customer"]] = by_customer.get(o["customer"], 0) + o["amount"]',
      'print(f"{len(paid)} paid orders")',
      'result = {"count": len(paid), "total": sum(o["amount"] for o in paid), "byCustomer": by_customer}',
    ].join('\n'),
    options: { inputs: { getOrders } },
  },
  {
    name: 'last expression is the result',
    code: 'import statistics\nstatistics.median(o["amount"] for o in getOrders["data"])',
    options: { inputs: { getOrders } },
  },
  {
    name: 'an error shows its line',
    code: 'orders = getOrders["data"]\nfirst = orders[0]\n\ndiscount = first["coupon"]["percent"]\n',
    options: { inputs: { getOrders } },
  },
  {
    name: 'a limit is hit (timeout)',
    code: 'import time\ntime.sleep(5)',
    options: { limits: { wallMs: 300 } },
  },
  {
    name: 'a limit is hit (memory)',
    code: 'blob = bytearray(1024 ** 3)',
    options: {},
  },
];

function show(run, ms) {
  const timing = `${ms.toFixed(2)} ms end-to-end, wall ${run.usage.wallMs.toFixed(2)} ms, cpu ${run.usage.cpuMs.toFixed(2)} ms, peak ${run.usage.peakMemoryKb} KB`;
  if (run.status === 'ok') {
    console.log(`  ok     result = ${JSON.stringify(run.result)}`);
    if (run.stdout) console.log(`         stdout = ${JSON.stringify(run.stdout)}`);
  } else {
    const where = run.error.line !== null ? ` (line ${run.error.line})` : '';
    console.log(`  error  ${run.error.type}${where}: ${run.error.message}`);
    if (run.error.traceback) console.log(run.error.traceback.trimEnd().split('\n').map((l) => `         | ${l}`).join('\n'));
  }
  console.log(`         ${timing}`);
}

async function main() {
  let t = performance.now();
  const sandbox = new Sandbox();
  console.log(`Sandbox ready in ${(performance.now() - t).toFixed(1)} ms`);
  sandbox.on('log', (entry) => { if (entry.level !== 'debug') console.log(`[${entry.level}] ${entry.source}: ${entry.message}`); });

  const caps = sandbox.capabilities();
  console.log(`isolation tier: ${caps.selected}`);
  console.log('capabilities:', JSON.stringify(caps.tiers));
  console.log('host:', JSON.stringify(caps.host));
  console.log('limits:', JSON.stringify(sandbox.limits));

  try {
    for (const node of nodes) {
      console.log(`\n▶ ${node.name}`);
      t = performance.now();
      const run = await sandbox.runPython(node.code, node.options);
      show(run, performance.now() - t);
    }

    // A bundle: the workflow version's requirements.txt, installed once (a
    // second demo run finds it in the cache), then nodes import from it.
    const requirements = 'pydash>=7\nnumpy>=1.26\n';
    console.log(`\n▶ install bundle 'demo-v1' from ${JSON.stringify(requirements)}`);
    sandbox.on('status', (key, status) => console.log(`  [status] ${key}: ${status.status}`));
    t = performance.now();
    const status = await sandbox.install('demo-v1', requirements);
    const installMs = performance.now() - t;
    if (status.status !== 'ready') {
      console.log(`  install failed: ${status.error}`);
      process.exitCode = 1;
    } else {
      console.log(`  ready in ${installMs.toFixed(1)} ms: ${status.packages.map((p) => `${p.name}==${p.version}`).join(', ')}`);
      console.log(`  bundleSha ${status.bundleSha}, ${(status.sizeBytes / 1e6).toFixed(1)} MB, ${status.runtimeVersion}`);
      const bundleNodes = [
        {
          name: 'pydash from the bundle',
          code: 'import pydash\nresult = pydash.group_by(getOrders["data"], "customer")\nsorted(result)',
        },
        {
          name: 'numpy from the bundle (preloaded in the warm interpreter)',
          code: 'import numpy as np\namounts = np.array([o["amount"] for o in getOrders["data"]])\n' +
            'result = {"mean": amounts.mean(), "p90": np.percentile(amounts, 90), "max": amounts.max()}',
        },
      ];
      for (const node of bundleNodes) {
        console.log(`\n▶ ${node.name}`);
        t = performance.now();
        const run = await sandbox.runPython(node.code, { bundle: 'demo-v1', inputs: { getOrders } });
        show(run, performance.now() - t);
      }
      // A session keeps its state between calls, like a notebook.
      console.log('\n▶ a session: state persists between calls');
      const sessionCalls = [
        'import numpy as np\nhistory = np.array([o["amount"] for o in getOrders["data"]])\nlen(history)',
        'history = np.append(history, 99.5)\nfloat(history.mean())',
      ];
      for (const code of sessionCalls) {
        t = performance.now();
        const run = await sandbox.runPython(code, { bundle: 'demo-v1', session: 'demo-chat', inputs: { getOrders } });
        show(run, performance.now() - t);
      }
      await sandbox.closeSession('demo-chat');

      const numpyTimes = [];
      for (let i = 0; i < 20; i++) {
        t = performance.now();
        await sandbox.runPython('import numpy as np\nfloat(np.arange(10).sum())', { bundle: 'demo-v1' });
        numpyTimes.push(performance.now() - t);
      }
      numpyTimes.sort((a, b) => a - b);
      console.log(`\n20 warm numpy runs: p50 ${numpyTimes[10].toFixed(2)} ms, max ${numpyTimes[19].toFixed(2)} ms`);
    }

    // Warm runs are the point of pycage: show a few in a row.
    const times = [];
    for (let i = 0; i < 50; i++) {
      t = performance.now();
      await sandbox.runPython('1 + 1');
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`\n50 warm trivial runs: p50 ${times[25].toFixed(2)} ms, max ${times[49].toFixed(2)} ms`);
  } finally {
    await sandbox.close();
  }
}

main().catch((err) => {
  console.error(err.code ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
});
