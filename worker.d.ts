// Hand-written type definitions for pycage/worker.

import { EventEmitter } from 'node:events';
import { Sandbox, RunOptions, RunResult, BundleStatus, IsolationTier, Limits } from './index';
import { PostgresBundleStore, StoredBundleStatus } from './postgres';

/** ioredis connection options (BullMQ's `connection`), or an ioredis client. */
export type RedisConnection = Record<string, unknown>;

export interface WorkerOptions {
  connection: RedisConnection;
  /** The BullMQ queue name (letters, digits, _ . -). */
  queue: string;
  /** The local Sandbox that runs the jobs. */
  sandbox: Sandbox;
  /** Where the worker fetches bundles it lacks (by bundleSha) and publishes the ones it builds. */
  bundleStore?: PostgresBundleStore;
  /** Jobs run at once (default 4). */
  concurrency?: number;
  /** Run a job again on another worker when its worker died mid-run (default false: at most once). */
  retries?: boolean;
  /** How long a session stays with this worker after its last call (default 5 minutes). */
  sessionTtlMs?: number;
}

export interface PycageWorker extends EventEmitter {
  readonly id: string;
  close(): Promise<void>;
}

export function createWorker(options: WorkerOptions): Promise<PycageWorker>;

export interface RemoteSandboxOptions {
  connection: RedisConnection;
  queue: string;
  bundleStore?: PostgresBundleStore;
  /** The ceiling runs are checked against here, as a Sandbox's limits. */
  limits?: Partial<Limits>;
  /** Waiting runs beyond which runPython rejects with ERR_OVERLOADED (default 1000). */
  maxQueue?: number;
}

export class RemoteSandbox {
  constructor(options: RemoteSandboxOptions);
  readonly limits: Readonly<Limits>;
  /** The tier of the last run a worker answered, or null before any. */
  readonly isolation: IsolationTier | null;
  /**
   * Resolves with the worker's RunResult, or a TimeoutError / Cancelled / Crashed result; `wallMs` (plus 3 s for the reply) bounds the
   * call, time spent queueing included. Rejects with ERR_OVERLOADED when the queue is full or Redis failed under it.
   */
  runPython(code: string, options?: RunOptions): Promise<RunResult>;
  status(key: string): Promise<StoredBundleStatus>;
  install(key: string, requirementsText: string): Promise<BundleStatus>;
  bundle(key: string, options?: { rebuild?: boolean }): Promise<BundleStatus>;
  close(): Promise<void>;
}
