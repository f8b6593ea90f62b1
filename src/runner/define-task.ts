/**
 * The contract between a task module and the runner that hosts it.
 * A task module's default export is `defineTask(fn)`; the runner calls `fn`
 * in its own process, so a task that never yields can still be stopped
 * (by signals to its process group), and one that cooperates stops cleanly.
 */

export interface TaskContext {
  /** Aborted when the task is asked to stop gracefully (cancel, timeout, watchdog). */
  readonly signal: AbortSignal;
  /** Report progress: fraction in [0, 1] (clamped), optional message. Cheap: coalesced before it leaves the process. */
  progress(fraction: number, message?: string): void;
  /** Tell the watchdog the task is alive when it has no progress to report. */
  heartbeat(): void;
  /** Register a hook that runs on graceful cancel, bounded by the supervisor's grace period; a promise it returns is awaited. */
  onCleanup(hook: () => unknown): void;
  /** Write a log line (captured like stdout). */
  log(message: string): void;
  /** This attempt's number, 1 for the first run. */
  readonly attempt: number;
  /** The task id the supervisor gave this task. */
  readonly taskId: string;
}

export type TaskFunction<I = unknown, R = unknown> = (input: I, ctx: TaskContext) => R | Promise<R>;

const TASK_MARK = Symbol.for('taskwarden.task');

export interface TaskDefinition<I = unknown, R = unknown> {
  readonly [TASK_MARK]: true;
  readonly run: TaskFunction<I, R>;
}

export function defineTask<I = unknown, R = unknown>(run: TaskFunction<I, R>): TaskDefinition<I, R> {
  if (typeof run !== 'function') {
    throw new TypeError(`defineTask() expects a function (input, ctx) => result, got ${typeof run}`);
  }
  return Object.freeze({ [TASK_MARK]: true as const, run });
}

export function isTaskDefinition(value: unknown): value is TaskDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TASK_MARK] === true;
}
