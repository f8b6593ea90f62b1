/**
 * The contract between the supervisor and a runner process (src/runner/host.ts): where the
 * runner is, how it learns what to preload, and the messages over Node's IPC channel with
 * 'advanced' serialization (structured clone), so inputs and results keep Dates, Maps, typed
 * arrays and so on. Here, beside both, so that neither side (nor src/process, which spawns the
 * runner) imports the other.
 */
import { fileURLToPath } from 'node:url';
import type { TaskError } from './task-errors.js';

/** The runner's entry, compiled (src/runner/host.ts). */
export const RUNNER_HOST_PATH = fileURLToPath(new URL('../runner/host.js', import.meta.url));
/**
 * The light entry task modules import (`import { defineTask } from 'taskwarden/task'`), preloaded by
 * prewarmed runners. Not the full package entry: it would cost every runner the supervisor's code.
 */
export const PACKAGE_ENTRY_URL = new URL('../task.js', import.meta.url).href;

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
