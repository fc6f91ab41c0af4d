// Hand-written type definitions for pycage/postgres.

import { Sandbox, BundleStatus } from './index';

/** The part of a `pg` Pool the store uses (pass your own `new Pool(...)`). */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
  connect(): Promise<{ query(text: string, values?: unknown[]): Promise<any>; release(): void }>;
}

export interface PostgresBundleStoreOptions {
  pool: PgPoolLike;
  /** Prefix of the three tables (default 'pycage_'): bundles, bundle_chunks, bundle_keys. */
  tablePrefix?: string;
  /** Size of each stored piece of an archive (default 1 MiB, 4 KiB to 64 MiB). */
  chunkBytes?: number;
}

export interface StoredBundleStatus {
  key: string;
  status: 'none' | 'building' | 'ready' | 'failed';
  bundleSha: string | null;
  requirements: string | null;
  error: string | null;
  updatedAt: string | null;
}

export interface PostgresBundleStore {
  /** Creates the tables if missing; idempotent and safe from several processes at once. */
  migrate(): Promise<void>;
  /** Stores an exported archive under its bundleSha; a second copy is ignored. */
  putBundle(bytes: Buffer, meta: { bundleSha: string; runtimeVersion?: string | null }): Promise<{ bundleSha: string; stored: boolean }>;
  hasBundle(bundleSha: string): Promise<boolean>;
  /** The archive, checked against its recorded size and sha256 (ERR_BUNDLE_CORRUPT otherwise). */
  readBundle(bundleSha: string): Promise<Buffer>;
  setStatus(key: string, status: { status: StoredBundleStatus['status']; bundleSha?: string | null; requirements?: string | null; error?: string | null }): Promise<void>;
  getStatus(key: string): Promise<StoredBundleStatus>;
  /** Exports `key`'s ready bundle from the Sandbox into the store. */
  publish(sandbox: Sandbox, key: string): Promise<StoredBundleStatus>;
  /** Imports `key`'s bundle from the store into the Sandbox, unless it already has it. */
  fetch(sandbox: Sandbox, key: string): Promise<BundleStatus>;
  /** Publishes each bundle that becomes ready in the Sandbox; returns a function that stops it. */
  attach(sandbox: Sandbox, options?: { onError?: (err: Error) => void }): () => void;
}

export function createPostgresBundleStore(options: PostgresBundleStoreOptions): PostgresBundleStore;
export const SCHEMA_VERSION: number;
