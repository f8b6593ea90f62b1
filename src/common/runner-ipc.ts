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
  /**
   * A reusable run: after a task that completed cleanly the runner stays for another one. It then
   * writes `endMarker` as the last line on stdout and on stderr before its result (with `idle`), so
   * the supervisor can tell where this task's output ends (the next task's never lands on this one).
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
  /** `idle`: a reusable run's runner stays for another task (its end markers are written; see RunMessage.reuse). */
  | { t: 'result'; value: unknown; idle?: { rssBytes: number } }
  | { t: 'error'; error: TaskError }
  | { t: 'cancelled'; error?: TaskError }
  /** After a reusable run's result: the runner found something the task left running, and exits instead. */
  | { t: 'not-reusable'; why: string };

/** A JSON array of module URLs a prewarmed runner imports while it waits. */
export const PRELOAD_ENV = 'TASKWARDEN_PRELOAD';
