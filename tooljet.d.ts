// Hand-written type definitions for pycage/tooljet.

import { Sandbox, JsonValue, BundleStatus } from './index';

export interface ExecutionResult {
  status: 'ok' | 'error';
  /** The node's result when status is 'ok', else null. */
  data: JsonValue;
  /** "<type>: <message>" when status is 'error', else null. */
  error: string | null;
  /** The user-frame traceback when status is 'error', else null. */
  trace: string | null;
  executionTimeMs: number;
}

export interface PythonExecutor {
  /**
   * Runs `code` with each key of `state` as a global. `timeout` (ms) lowers
   * the Sandbox's wall-time limit.
   */
  execute(
    code: string,
    state?: Record<string, unknown> | null,
    bundleId?: string | null,
    timeout?: number | null,
  ): Promise<ExecutionResult>;
}

export function createPythonExecutor(sandbox: Sandbox): PythonExecutor;

export interface BundleForExecution {
  /** The key runs of this app version pass as `bundle`. */
  bundleId: string;
  bundleSha: string;
}

export interface BundleService {
  /** Validates and installs the version's requirements; resolves once ready or failed. */
  updatePackages(appVersionId: string, requirementsText: string): Promise<BundleStatus>;
  /** Builds from the stored requirements unless already ready. */
  generateBundle(appVersionId: string): Promise<BundleStatus>;
  /** Builds again from the stored requirements; the old bundle serves meanwhile. */
  rebuildBundle(appVersionId: string): Promise<BundleStatus>;
  getBundleStatus(appVersionId: string): Promise<BundleStatus>;
  /** The bundle a run of this version uses now; null when the version has no packages (standard
   * library only). Rejects with ERR_BUNDLE_NOT_READY, saying why, when its packages failed to
   * install or are still building with no earlier build to serve. */
  getBundleForExecution(appVersionId: string): Promise<BundleForExecution | null>;
}

export function createBundleService(sandbox: Sandbox): BundleService;
