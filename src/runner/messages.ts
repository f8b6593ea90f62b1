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
}

export interface AbortMessage {
  t: 'abort';
  reason: string;
}

export type ToRunner = RunMessage | AbortMessage;

export type FromRunner =
  | { t: 'ready' }
  | { t: 'started' }
  | { t: 'progress'; fraction: number; message?: string }
  | { t: 'heartbeat' }
  | { t: 'result'; value: unknown }
  | { t: 'error'; error: TaskError }
  | { t: 'cancelled'; error?: TaskError };

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
