// Hand-written type definitions for pycage/tooljet.

import { Sandbox, JsonValue } from './index';

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
