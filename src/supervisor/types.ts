/** Public types of the Supervisor. Front ends (daemon, CLI, UI) build on these names. */
import type { TaskError } from '../common/task-errors.js';
import type { Priority } from '../process/priority.js';

export const ACTIVE_STATES = ['queued', 'starting', 'running', 'paused', 'cancelling', 'killing'] as const;
/** The states the machine ends a task in. ('interrupted', a daemon that died, is the journal's: src/journal/recorded-state.ts.) */
export const TERMINAL_STATES = ['completed', 'failed', 'cancelled', 'killed'] as const;
export type ActiveState = (typeof ACTIVE_STATES)[number];
export type TerminalState = (typeof TERMINAL_STATES)[number];
export type TaskState = ActiveState | TerminalState;

export function isTerminalState(state: string): state is TerminalState {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

export type StallPolicy = 'warn' | 'cancel' | 'kill' | 'restart';

export interface Progress {
  /** In [0, 1]. */
  fraction: number;
  message?: string;
}

export interface ModuleTaskSpec {
  /** Path of a Node task module (absolute, or relative to cwd / process.cwd()). */
  module: string;
  input?: unknown;
  name?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  graceMs?: number;
  /** CPU priority of this task's processes (default: the Supervisor's `priority`). */
  priority?: Priority;
  /** Memory limit in bytes for all the task's processes together (default: the Supervisor's `memoryMax`); needs a cgroup memory controller. */
  memoryMax?: number;
  /**
   * Reuse the runner process for further tasks of the same module, cwd, env, priority and memory
   * limit (a plate of images): true, or the most tasks one runner may serve. A runner is reused
   * only after a task that completed and left nothing behind; see README, Reusable runners.
   */
  reuse?: boolean | number;
}

export interface CommandTaskSpec {
  command: string;
  args?: string[];
  name?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  graceMs?: number;
  /** CPU priority of this task's processes (default: the Supervisor's `priority`). */
  priority?: Priority;
  /** Memory limit in bytes for all the task's processes together (default: the Supervisor's `memoryMax`); needs a cgroup memory controller. */
  memoryMax?: number;
}

export type TaskSpec = ModuleTaskSpec | CommandTaskSpec;

/** Why a task was stopped; carried on the result so a user sees what happened. */
export type StopReason =
  | 'cancel' // cancel() by a user or front end
  | 'kill' // kill() by a user or front end
  | 'restart' // restart() killed the previous attempt
  | 'stop-all' // the emergency stop
  | 'timeout' // the per-task timeoutMs ran out
  | 'stall' // the watchdog, per onStall
  | 'shutdown'; // the supervisor is shutting down

export type { TaskError } from '../common/task-errors.js';

export interface TaskOutcome {
  state: TerminalState;
  result?: unknown;
  error?: TaskError;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  /** What asked for the stop, when a stop ended the task. */
  stopReason?: StopReason;
  /** Set when a graceful cancel had to be escalated to SIGKILL. */
  escalated?: boolean;
  durationMs: number;
  attempt: number;
}

export interface StallInfo {
  taskId: string;
  /** Milliseconds since the last progress or heartbeat. */
  silentForMs: number;
  /** 'spinning': burning CPU; 'blocked': idle (waiting on I/O, a lock, a GPU, a sleep). */
  diagnosis: 'spinning' | 'blocked' | 'unknown';
  /** CPU use over the watchdog's window, percent of one core. */
  cpuPercent: number;
}

export interface ResourceUsage {
  /** CPU percent of one core over the last sample window, summed over the process group. */
  cpuPercent: number;
  /** Resident set size in bytes, summed over the process group. */
  rssBytes: number;
  /** Number of live processes in the group. */
  processes: number;
  sampledAt: number;
  /** Length of the window cpuPercent covers; 0 for a task's first sample. */
  windowMs: number;
  /**
   * Some process of the group was runnable (state R) when sampled. A spinning task is runnable
   * even when contended cores give it little CPU; a blocked one sleeps (S or D).
   */
  runnable?: boolean;
  /** Highest memory use of the task so far, in bytes (cgroup containment with a memory controller only). */
  memoryPeakBytes?: number;
  /** The task's memory limit in bytes, where one is set. */
  memoryLimitBytes?: number;
}

export interface LogLine {
  taskId: string;
  attempt: number;
  stream: 'stdout' | 'stderr';
  line: string;
  at: number;
}

/** A plain snapshot of a task, safe to send over a wire. */
export interface TaskSnapshot {
  id: string;
  name: string;
  kind: 'module' | 'command';
  spec: TaskSpec;
  state: TaskState;
  attempt: number;
  pid?: number;
  progress?: Progress;
  usage?: ResourceUsage;
  stall?: StallInfo;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  outcome?: TaskOutcome;
  stopReason?: StopReason;
}

/**
 * What the supervisor tells its listeners, each event with the facts it is about, so that a
 * listener (the daemon's journal) records them as they are and derives nothing.
 */
export type SupervisorEvent =
  /** start() added a task (a fresh one, or one recorded elsewhere continuing at a later attempt). */
  | { type: 'created'; task: TaskSnapshot }
  /**
   * The task changed state. `endedAttempt`: the attempt before this one, when a restart of a
   * live attempt ended it (it never reaches a terminal state of its own).
   */
  | { type: 'state'; task: TaskSnapshot; previous: TaskState; endedAttempt?: TaskOutcome }
  /**
   * An attempt's process exists: its pid, and its start time from /proc (clock ticks after boot,
   * null where it could not be read), which with the pid tells this process from a later one.
   */
  | { type: 'spawned'; taskId: string; attempt: number; pid: number; startTime: number | null; at: number }
  | { type: 'progress'; taskId: string; attempt: number; progress: Progress }
  | { type: 'stall'; taskId: string; stall: StallInfo }
  | { type: 'log'; log: LogLine }
  | { type: 'usage'; taskId: string; usage: ResourceUsage };

export interface StopAllResult {
  cancelled: number;
  killed: number;
  notStarted: number;
  /** Tasks that ended on their own while the stop was under way. */
  finished: number;
  ms: number;
}
