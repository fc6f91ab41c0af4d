'use strict';

const { PycageError, codes } = require('./errors');

// Turns the native outcome into the public RunResult (README). The native
// side hands the result over as JSON text so the value is built here, on the
// JS thread, with plain JSON.parse.
function toRunResult(outcome, isolation) {
  let result = null;
  if (outcome.status === 'ok' && outcome.resultJson !== null && outcome.resultJson !== undefined) {
    try {
      result = JSON.parse(outcome.resultJson);
    } catch (err) {
      throw new PycageError(`The runner returned a result that is not valid JSON (${err.message})`, codes.ERR_INTERNAL);
    }
  }
  const error = outcome.status === 'error' && outcome.error
    ? {
      type: String(outcome.error.type),
      message: String(outcome.error.message ?? ''),
      traceback: String(outcome.error.traceback ?? ''),
      line: Number.isInteger(outcome.error.line) ? outcome.error.line : null,
    }
    : null;
  return {
    status: outcome.status === 'ok' ? 'ok' : 'error',
    result,
    stdout: outcome.stdout ?? '',
    stderr: outcome.stderr ?? '',
    figures: Array.isArray(outcome.figures) ? outcome.figures : [],
    error,
    truncated: {
      stdout: Boolean(outcome.truncatedStdout),
      stderr: Boolean(outcome.truncatedStderr),
      figures: Boolean(outcome.truncatedFigures),
    },
    audit: Array.isArray(outcome.audit) ? outcome.audit : [],
    usage: {
      wallMs: Number(outcome.wallMs) || 0,
      cpuMs: Number(outcome.cpuMs) || 0,
      peakMemoryKb: Number(outcome.peakMemoryKb) || 0,
      // Host time before the run started: its place in the queue, and for a
      // cold start the warm interpreter's start.
      queueMs: Number(outcome.queueMs) || 0,
      coldStart: Boolean(outcome.coldStart),
    },
    isolation,
  };
}

// A run whose signal was already aborted never starts; it resolves like a run
// cancelled mid-way so callers handle one shape.
function cancelledBeforeStart(isolation) {
  return {
    status: 'error',
    result: null,
    stdout: '',
    stderr: '',
    figures: [],
    error: {
      type: 'Cancelled',
      message: 'The run was cancelled before it started: its AbortSignal was already aborted',
      traceback: '',
      line: null,
    },
    truncated: { stdout: false, stderr: false, figures: false },
    audit: [],
    usage: { wallMs: 0, cpuMs: 0, peakMemoryKb: 0, queueMs: 0, coldStart: false },
    isolation,
  };
}

module.exports = { toRunResult, cancelledBeforeStart };
