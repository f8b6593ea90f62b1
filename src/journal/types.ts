/** Records the journal returns (besides RecordedTask from the Supervisor's types). */
import type { Progress, StopReason, TaskError } from '../supervisor/types.js';
import type { RecordedState, RecordedTask } from './recorded-state.js';

export interface ListOptions {
  /** Include tasks in a terminal state. Default false: only queued/starting/running/cancelling/killing. */
  includeFinished?: boolean;
  /** At most this many, the most recently created; returned oldest first. Default: all. */
  limit?: number;
}

/** One attempt (one process) of a task. Absent values are omitted. */
export interface AttemptRecord {
  attempt: number;
  state: RecordedState;
  pid?: number;
  /** Process start time from /proc (clock ticks after boot): with pid, identifies the process. */
  procStartTime?: number;
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  exitCode?: number;
  signal?: NodeJS.Signals;
  error?: TaskError;
  result?: unknown;
  progress?: Progress;
  progressAt?: number;
  stopReason?: StopReason;
  escalated?: boolean;
}

export interface TransitionRecord {
  attempt: number;
  /** null for the task's creation. */
  from: RecordedState | null;
  to: RecordedState;
  at: number;
  detail?: Record<string, unknown>;
}

export interface TaskRecord {
  task: RecordedTask;
  attempts: AttemptRecord[];
  transitions: TransitionRecord[];
}

/** An active task found in the journal, with what recovery needs to find its process. */
export interface UnfinishedTask {
  task: RecordedTask;
  /** The current attempt's process, when it was spawned. */
  pid: number | null;
  procStartTime: number | null;
}

export interface InterruptDetail {
  /** Shown as the task's error message. Default: the daemon exited before the task finished. */
  message?: string;
  /** Anything else worth keeping (e.g. whether recovery killed a left-over process group). */
  [key: string]: unknown;
}
