// Hand-written type definitions for pycage (checked by test/js/95.types.test.js).

import { EventEmitter } from 'node:events';

export type IsolationTier = 'full' | 'reduced' | 'bypass';

export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_REQUIREMENTS_INVALID'
  | 'ERR_BUNDLE_NOT_READY'
  | 'ERR_BUNDLE_CORRUPT'
  | 'ERR_ISOLATION_UNAVAILABLE'
  | 'ERR_CLOSED'
  | 'ERR_OVERLOADED'
  | 'ERR_INTERNAL';

/** Every fault of the caller or the host rejects with a PycageError. */
export class PycageError extends Error {
  constructor(message: string, code?: ErrorCode);
  readonly name: 'PycageError';
  code: ErrorCode;
}

/** Resource limits of one run. All fields are positive integers. */
export interface Limits {
  /** Wall-clock time of the run in ms. Default 10000. Broken: `TimeoutError`. */
  wallMs: number;
  /** CPU time in ms (enforced in whole seconds, rounded up). Default 5000. Broken: `CpuLimitExceeded`. */
  cpuMs: number;
  /** Address space in bytes. Default 512 MiB. Broken: `MemoryLimitExceeded`. */
  memoryBytes: number;
  /** Size of one written file in bytes. Default 1 MiB. */
  fileSizeBytes: number;
  /** Processes and threads of the run. Default 5. Broken: `ProcessLimitExceeded`. */
  processes: number;
  /** Captured stdout in bytes; beyond it the output is truncated and flagged. Default 1 MiB. */
  stdoutBytes: number;
  /** Captured stderr in bytes; beyond it the output is truncated and flagged. Default 1 MiB. */
  stderrBytes: number;
  /** Size of the JSON result in bytes. Default 16 MiB. */
  resultBytes: number;
  /** Size of the run's private /tmp in bytes. Default 16 MiB. */
  tmpBytes: number;
  /** Open file descriptors of the run (RLIMIT_NOFILE). Default 256. Broken: `OSError` (EMFILE). */
  openFiles: number;
}

/** The `run` event, after each run. */
export interface RunSummary {
  bundle: string | null;
  session: string | null;
  tier: IsolationTier;
  status: 'ok' | 'error';
  errorType: string | null;
  wallMs: number;
  cpuMs: number;
  peakMemoryKb: number;
  queueMs: number;
  coldStart: boolean;
}

/** A metric as prom-client's Registry reads it (registerMetric). */
export interface PromMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: string;
    values: { value: number; labels: Record<string, string | number>; metricName?: string }[] }>;
  /** Forgets the counts (prom-client's `registry.resetMetrics()` calls it). */
  reset(): void;
}

/** A `log` event. `debug` is the installer's own output; `warn` and `error` need a look. */
export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** Who said it: the jail helper, the warm interpreter, the installer, the bundle store or the Sandbox. */
  source: 'jail' | 'zygote' | 'installer' | 'bundles' | 'sandbox';
  /** The bundle key it concerns, or null. */
  key: string | null;
  message: string;
}

export interface PackageIndexOptions {
  url?: string;
  extraUrls?: string[];
  findLinks?: string[];
  trustedHosts?: string[];
  /** http(s):// proxy URL for the installer (credentials allowed, never logged). The host's own
   * HTTP(S)_PROXY variables never reach the installer. */
  proxy?: string;
  /** Absolute path of a PEM bundle of the CAs that the index's TLS certificate chains to. */
  caBundle?: string;
}

export interface SandboxOptions {
  /** Default: $PYCAGE_DATA_DIR, else ~/.cache/pycage. */
  dataDir?: string;
  /** Interpreter for runs. Default: $PYCAGE_PYTHON, else python3 on PATH. */
  python?: string;
  /** Default 'auto': the strongest tier this host allows; never bypass unless opted in. */
  isolation?: 'auto' | IsolationTier;
  /** The defaults of every run and the ceiling a run cannot exceed. */
  limits?: Partial<Limits>;
  /** Operator-only package index configuration. */
  index?: PackageIndexOptions;
  /** Runs in flight at once, 1 to 64. Default min(16, 2 × available CPUs). */
  concurrency?: number;
  /** Runs queued beyond `concurrency` (1 to 1000000) before calls reject with ERR_OVERLOADED. Default 1000. */
  maxQueue?: number;
  /** Which installer builds bundles. Default tool 'auto': uv when on PATH (or uvPath given), else pip. */
  installer?: { tool?: 'auto' | 'pip' | 'uv'; uvPath?: string; timeoutMs?: number };
  /** Unreferenced installs are garbage-collected, oldest first, above this many bytes. Default 20 GiB. */
  diskCapBytes?: number;
  /**
   * A delegated cgroup v2 directory (its parent's cgroup.subtree_control enables pids and memory).
   * Each jail gets a child cgroup with pids.max and memory.max for all its runs. Default $PYCAGE_CGROUP_ROOT, else none.
   */
  cgroupRoot?: string;
  /** Stateful sessions: at most `max` live (default 32; least recently used idle ones are evicted), closed after `idleMs` idle (default 5 minutes). */
  sessions?: { max?: number; idleMs?: number };
  /**
   * A usability layer on top of the jail, never a security boundary (README "Restrictions").
   * Without it, the node's own imports of the network modules (socket, ssl, http.client, urllib.request…)
   * raise RestrictedAccessError; the lists below add to that.
   */
  restrictions?: Restrictions;
  /** Adaptive preload (README "Adaptive preload"): warm interpreters learn what a bundle's runs import. */
  preload?: PreloadOptions;
}

export interface PreloadOptions {
  /** Count what runs import and preload it in the next warm interpreter. Default true. */
  learn?: boolean;
  /** Runs that must have imported a module before it is preloaded, 1 to 1000000. Default 3. */
  minRuns?: number;
  /** Learned modules per bundle, 0 to 256. Default 128. */
  maxModules?: number;
  /** A warm interpreter stops importing learned modules once it grew by this many MB, 1 to 16384. Default 128. */
  maxGrowthMb?: number;
  /** A pool idle this long swaps in a warm interpreter with what it learned, 0 to 2^31-1. Default 1000. */
  idleMs?: number;
}

export interface Restrictions {
  /** Modules (and their submodules) the node's code may not import. At most 200 dotted names of ≤ 128 characters. */
  deniedModules?: string[];
  /** 'module.member' paths the node's code may not touch, e.g. 'os.system', 'datetime.date.today'. */
  deniedMembers?: string[];
  /** Imported once in every warm interpreter and shared by its runs, e.g. 'pandas', 'matplotlib.pyplot'. */
  passthroughModules?: string[];
  /** 'enforce' (default) raises RestrictedAccessError; 'warn' lets the access through and lists it in RunResult.audit. */
  mode?: 'enforce' | 'warn';
}

export type BundleState = 'none' | 'building' | 'ready' | 'failed';

export interface BundleStatus {
  key: string;
  status: BundleState;
  /** The requirements text as given to install(), or null for 'none'. */
  requirements: string | null;
  /** What the serving bundle holds (during 'building': the previous ready bundle, if any). */
  packages: { name: string; version: string }[];
  bundleSha: string | null;
  sizeBytes: number;
  generationTimeMs: number | null;
  /** "python <version> <abi>" */
  runtimeVersion: string;
  /** The installer's own message, or the smoke test's, when status is 'failed'. */
  error: string | null;
  updatedAt: string | null;
}

export interface RunOptions {
  /** Each key becomes a global of the run. JSON values only. */
  inputs?: Record<string, unknown> | null;
  /** May only lower the Sandbox's limits. */
  limits?: Partial<Limits>;
  /** Aborting resolves the run with error.type 'Cancelled'. */
  signal?: AbortSignal;
  /** A bundle key (or an imported bundleSha): its packages are importable. Not ready: ERR_BUNDLE_NOT_READY. */
  bundle?: string | null;
  /**
   * Run as the next call of this session: globals, imports and functions persist between its calls, which run in
   * the order they were made. A timeout, CPU limit or crash ends the session; the next call starts a fresh one
   * and says so with `sessionRestarted`. Process-level limits (memory, processes, file size, /tmp) are those of the
   * session's first call; CPU and wall time are per call.
   */
  session?: string | null;
}

export type RunErrorType =
  | 'TimeoutError'
  | 'CpuLimitExceeded'
  | 'MemoryLimitExceeded'
  | 'OutputLimitExceeded'
  | 'ProcessLimitExceeded'
  | 'SandboxViolation'
  | 'Cancelled'
  /** The interpreter died before replying (a native crash, os._exit, or its warm parent died); safe to retry. */
  | 'Crashed'
  /** The node's own code wrote malformed or extra frames to the result channel. */
  | 'ProtocolError'
  /** The node imported a denied module or touched a denied member (restrictions, enforce mode). */
  | 'RestrictedAccessError'
  | (string & {});

export interface RunError {
  /** The Python exception's class name, or one of the limit/sandbox types. */
  type: RunErrorType;
  message: string;
  /** User frames only, with node-relative line numbers. */
  traceback: string;
  /** Node-relative line of the error, when known. */
  line: number | null;
}

/** A matplotlib figure shown or still open when the run ended. */
export interface Figure {
  type: 'image/png';
  /** base64 */
  data: string;
}

/** A denied access let through in restrictions mode 'warn'; one entry per name and run. */
export interface AuditEntry {
  kind: 'module' | 'member';
  /** e.g. 'socket', 'os.system' */
  name: string;
  /** What enforce mode would have raised. */
  message: string;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface RunResult {
  status: 'ok' | 'error';
  result: JsonValue;
  stdout: string;
  stderr: string;
  /** At most 16 figures and 4 MB of PNG; beyond that `truncated.figures` is true. */
  figures: Figure[];
  /** Set only when status is 'error'. */
  error: RunError | null;
  truncated: { stdout: boolean; stderr: boolean; figures: boolean };
  /** Restrictions mode 'warn' only: the denied accesses of this run (at most 256). */
  audit: AuditEntry[];
  /** wallMs, cpuMs and peakMemoryKb are the run's own; queueMs is the host time before it started
   * (its wait in the queue, and for a cold start the warm interpreter's start), coldStart says
   * whether it waited for its pool's warm interpreter to start. */
  usage: { wallMs: number; cpuMs: number; peakMemoryKb: number; queueMs: number; coldStart: boolean };
  isolation: IsolationTier;
  /** Session calls only: true when the session's earlier state was lost (timeout, crash, bundle change) and this call started afresh. */
  sessionRestarted?: boolean;
}

export interface HostProbe {
  userns: boolean;
  mountns: boolean;
  pidns: boolean;
  netns: boolean;
  seccomp: boolean;
  landlockAbi: number;
  cgroup2Delegated: boolean;
  /** Whether the operator's cgroupRoot (or $PYCAGE_CGROUP_ROOT) can be used, and why not. */
  cgroup2?: { available: boolean; reason: string };
  root: boolean;
  /** Root with CAP_SETUID and CAP_SETGID in a user namespace that maps the jail's uids: the reduced tier gives each run a uid of its own. */
  switchUid: boolean;
  missing: string[];
  fix: string[];
}

/** 'per-run': each run in flight has a host uid of its own, so RLIMIT_NPROC counts that run alone; 'shared': a pool's runs share one uid (SECURITY.md). */
export type RunUids = 'per-run' | 'shared';

/** A tier's trial jail: present for each tier 'auto' (or the isolation option) tried. */
export type TrialSummary =
  | { ok: true; wallMs: number }
  | { ok: false; stage: string | null; syscall: string | null; errno: number | null; error: string };

export interface Capabilities {
  tiers: {
    full: { available: boolean; missing: string[]; runUids: RunUids; trial?: TrialSummary };
    /** Seccomp and Landlock without namespaces; tried by 'auto' when full is not available. */
    reduced: { available: boolean; missing: string[]; runUids: RunUids; trial?: TrialSummary };
    bypass: { available: true; optIn: boolean };
  };
  /** The tier this Sandbox runs with. */
  selected: IsolationTier;
  host: HostProbe;
}

export class Sandbox extends EventEmitter {
  /** Validates, probes the host, resolves the interpreter (one spawn), proves the tier with a
   * trial jail (once per process) and starts the supervisor. ERR_ISOLATION_UNAVAILABLE names the
   * step, syscall and errno that failed. This blocks the JS thread (tens of ms): see create(). */
  constructor(options?: SandboxOptions);
  /** The same as the constructor, with the probe, the interpreter query and the trial jail off
   * the JS thread. Rejects with the constructor's errors. */
  static create(options?: SandboxOptions): Promise<Sandbox>;
  /** What this host allows and the tier these options would get, proven by a trial jail, without
   * constructing a Sandbox. `selected` is null and `error` says why when no tier can run. */
  static capabilities(options?: SandboxOptions): Promise<Omit<Capabilities, 'selected'> & {
    selected: IsolationTier | null;
    error: { code: 'ERR_ISOLATION_UNAVAILABLE'; message: string; step: { stage: string; syscall: string; errno: number; error: string } | null } | null;
  }>;
  /** The operator's ceiling, which is also the default of every run. */
  readonly limits: Readonly<Limits>;
  /** The tier this Sandbox runs with. */
  readonly isolation: IsolationTier;
  runPython(code: string, options?: RunOptions): Promise<RunResult>;
  capabilities(): Capabilities;
  /** Validates the requirements (ERR_REQUIREMENTS_INVALID names the line) and resolves once ready or failed. */
  install(key: string, requirementsText: string): Promise<BundleStatus>;
  /** Builds from the stored requirements; `rebuild` builds again even when ready. */
  bundle(key: string, options?: { rebuild?: boolean }): Promise<BundleStatus>;
  /** Status 'none' for an unknown key. */
  status(key: string): BundleStatus;
  /** Deterministic bytes: the same install gives the same bytes and bundleSha. */
  exportBundle(key: string): Promise<Buffer>;
  /** Verifies every path and hash; registers the bundle under `key`, default its bundleSha. */
  importBundle(buffer: Uint8Array, options?: { key?: string }): Promise<{ bundleSha: string; packages: { name: string; version: string }[] }>;
  /**
   * Calls `read` for the archive only if this dataDir lacks `bundleSha`, and in one process at a time, so processes
   * sharing a dataDir read it once. Bytes that import as another bundleSha reject with ERR_BUNDLE_CORRUPT.
   */
  importBundle(read: () => Promise<Uint8Array>, options: { key?: string; bundleSha: string }): Promise<{ bundleSha: string; packages: { name: string; version: string }[] }>;
  /** Ends a session once its calls have settled; resolves false for an unknown id. */
  closeSession(id: string): Promise<boolean>;
  /** New calls reject with ERR_CLOSED at once; runs in flight may finish for up to `drainMs`
   * (default 0), then every child is killed. Idempotent. */
  close(options?: { drainMs?: number }): Promise<void>;

  /** Counters and histograms in prom-client's shape: `for (const m of sandbox.metrics()) register.registerMetric(m)`.
   * `prefix` is put before each name (one per Sandbox sharing a registry); `labels` are added to every series. */
  metrics(options?: { prefix?: string; labels?: Record<string, string> }): PromMetric[];

  on(event: 'log', listener: (entry: LogEntry) => void): this;
  on(event: 'run', listener: (summary: RunSummary) => void): this;
  on(event: 'restart', listener: (info: { installId: string | null; reason: string }) => void): this;
  on(event: 'status', listener: (key: string, status: BundleStatus) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'log', listener: (entry: LogEntry) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}
