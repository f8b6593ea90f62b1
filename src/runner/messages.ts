/**
 * Messages between the supervisor and a runner process, over Node's IPC
 * channel with 'advanced' serialization (structured clone), so inputs and
 * results keep Dates, Maps, typed arrays and so on.
 */
import type { TaskError } from '../supervisor/types.js';

export interface RunMessage {
  t: 'run';
  module: string;
  input: unknown;
  taskId: string;
  attempt: number;
  cwd?: string;
  /** The lineage mark [variable, value] the task's children inherit (a prewarmed runner learns it here). */
  mark?: [string, string];
  /**
   * A reusable run: after a task that completed cleanly the runner stays for another one. It then
   * writes `endMarker` as the last line on stdout and on stderr and sends 'idle', so the supervisor
   * can tell where this task's output ends (the next task's never lands on this one).
   */
  reuse?: { endMarker: string };
}

export interface AbortMessage {
  t: 'abort';
  reason: string;
}

/** A reusable runner that is not to be reused after all (the supervisor's checks): exit now. */
export interface ExitMessage {
  t: 'exit';
}

export type ToRunner = RunMessage | AbortMessage | ExitMessage;

export type FromRunner =
  | { t: 'ready' }
  | { t: 'started' }
  | { t: 'progress'; fraction: number; message?: string }
  | { t: 'heartbeat' }
  | { t: 'result'; value: unknown }
  | { t: 'error'; error: TaskError }
  | { t: 'cancelled'; error?: TaskError }
  /** After a reusable run's result and end markers: the runner is clean by its own checks and waits for another task. */
  | { t: 'idle'; rssBytes: number }
  /** After a reusable run's result: the runner found something the task left running, and exits instead. */
  | { t: 'not-reusable'; why: string };

/** A JSON array of module URLs a prewarmed runner imports while it waits. */
export const PRELOAD_ENV = 'TASKWARDEN_PRELOAD';

export function toTaskError(error: unknown, code?: string): TaskError {
  if (error instanceof Error) {
    const errno = (error as NodeJS.ErrnoException).code;
    const resolvedCode = code ?? (typeof errno === 'string' ? errno : undefined);
    return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}), ...(resolvedCode ? { code: resolvedCode } : {}) };
  }
  return { name: 'Error', message: `non-Error thrown: ${safeString(error)}`, ...(code ? { code } : {}) };
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
