// Compiled with tsc --noEmit by test/js/95.types.test.js: it must type-check,
// and the lines marked @ts-expect-error must not.
import { Sandbox, PycageError, RunResult, Capabilities, Limits, LogEntry } from 'pycage';
import { createPythonExecutor, ExecutionResult } from 'pycage/tooljet';
import { createPostgresBundleStore, PgPoolLike, StoredBundleStatus } from 'pycage/postgres';
import { RemoteSandbox, createWorker, PycageWorker } from 'pycage/worker';

async function main(): Promise<void> {
  const sandbox = new Sandbox({ isolation: 'auto', limits: { wallMs: 5000 }, python: '/usr/bin/python3' });
  for (const m of sandbox.metrics({ prefix: 'etl_', labels: { app: 'etl' } })) { void m.name; m.reset(); }
  sandbox.on('log', (entry: LogEntry) => { void entry.key; void entry.message; const level: 'debug' | 'info' | 'warn' | 'error' = entry.level; void level; });
  const created: Sandbox = await Sandbox.create({ python: '/usr/bin/python3' });
  await created.close();
  const hostCaps = await Sandbox.capabilities({ isolation: 'auto' });
  const tier: string | null = hostCaps.selected;
  void tier; void (hostCaps.error && hostCaps.error.step);
  const controller = new AbortController();
  const run: RunResult = await sandbox.runPython('result = 1', {
    inputs: { getOrders: { data: [1, 2] } }, limits: { cpuMs: 1000 }, signal: controller.signal,
  });
  if (run.status === 'error' && run.error) {
    const line: number | null = run.error.line;
    void line;
  }
  const usage: number = run.usage.wallMs + run.usage.cpuMs + run.usage.peakMemoryKb;
  const flags: boolean = run.truncated.stdout || run.truncated.stderr || run.truncated.figures;
  const png: string[] = run.figures.filter((f) => f.type === 'image/png').map((f) => f.data);
  const denied: string[] = run.audit.filter((a) => a.kind === 'module').map((a) => a.name + a.message);
  void png; void denied;
  new Sandbox({ restrictions: { deniedModules: ['subprocess'], deniedMembers: ['os.system'], passthroughModules: ['json'], mode: 'warn' } });
  const caps: Capabilities = sandbox.capabilities();
  const selected: 'full' | 'reduced' | 'bypass' = caps.selected;
  const ceiling: Readonly<Limits> = sandbox.limits;
  void usage; void flags; void selected; void ceiling;

  const executor = createPythonExecutor(sandbox);
  const out: ExecutionResult = await executor.execute('1 + 1', { a: 1 }, null, 1000);
  const status: 'ok' | 'error' = out.status;
  void status;

  try { await sandbox.close(); } catch (err) {
    if (err instanceof PycageError && err.code === 'ERR_CLOSED') return;
  }

  // @ts-expect-error: isolation accepts only the tier names
  new Sandbox({ isolation: 'none' });
  new Sandbox({ preload: { learn: false, minRuns: 2, maxModules: 64, maxGrowthMb: 256, idleMs: 0 } });
  // @ts-expect-error: preload.learn is a boolean
  new Sandbox({ preload: { learn: 'yes' } });
  // @ts-expect-error: restrictions mode is 'enforce' or 'warn'
  new Sandbox({ restrictions: { mode: 'strict' } });
  // @ts-expect-error: limits are numbers
  new Sandbox({ limits: { cpuMs: '5s' } });
  // @ts-expect-error: code is a string
  await sandbox.runPython(42);
  const pool = {} as PgPoolLike;
  const store = createPostgresBundleStore({ pool, tablePrefix: 'tooljet_pycage_' });
  await store.migrate();
  const stored: StoredBundleStatus = await store.publish(sandbox, 'app-version-42');
  const corrupt: PycageError['code'] = 'ERR_BUNDLE_CORRUPT';
  void stored; void corrupt;
  const detach: () => void = store.attach(sandbox);
  detach();
  const worker: PycageWorker = await createWorker({ connection: { host: '127.0.0.1' }, queue: 'runs', sandbox, bundleStore: store });
  await worker.close();
  const remote = new RemoteSandbox({ connection: { host: '127.0.0.1' }, queue: 'runs', bundleStore: store, maxQueue: 100 });
  const remoteRun: RunResult = await remote.runPython('1', { bundle: 'app-version-42', session: 's' });
  const remoteTier: string | null = remote.isolation;
  void remoteRun; void remoteTier;
  // @ts-expect-error: a queue is required
  new RemoteSandbox({ connection: {} });
  // @ts-expect-error: the store needs a pool
  createPostgresBundleStore({});
  // @ts-expect-error: unknown error codes do not type-check
  const code: PycageError['code'] = 'ERR_NOPE';
  void code;
}

void main;
