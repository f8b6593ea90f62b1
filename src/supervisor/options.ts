/** Options are checked at the edge, with TypeErrors that name the option and what was wrong. */
import os from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PRIORITIES, cpuPriority, type CpuPriority, type Priority } from '../process/priority.js';
import { PARSE_OPTIONS, formatIssues } from '../common/zod-issues.js';
import { MAX_TIMER_MS, MAX_TIMER_TEXT } from './limits.js';
import { MemoryMaxSchema, TaskSpecSchema } from './spec.js';
import type { StallPolicy, TaskSpec } from './types.js';

export interface SupervisorOptions {
  /** Tasks running at once; the rest wait in a FIFO queue. Default: the number of CPUs. */
  concurrency?: number;
  /** How long a graceful cancel may take before SIGKILL. Default 3000 ms; at most MAX_TIMER_MS (about 24.8 days). */
  graceMs?: number;
  /** A running task silent (no progress, no heartbeat) this long is stalled. Default 10 000 ms; Infinity disables. */
  stallAfterMs?: number;
  /** What to do with a stalled task. Default 'warn' (emit 'stall' only). */
  onStall?: StallPolicy;
  /** Idle runner processes kept ready for module tasks. Default 1. */
  prewarm?: number;
  /**
   * CPU priority of task processes, so the control plane (this process, the daemon, the UI) stays
   * responsive however busy the tasks keep the machine: 'idle' (default: SCHED_IDLE in a session
   * autogroup at nice 19 where Linux has autogroups, else nice 19), 'low' (nice 10) or 'normal'.
   * Per task: spec.priority. Without this option (and without `nice`), $TASKWARDEN_PRIORITY decides.
   */
  priority?: Priority;
  /** A CPU niceness (0-19) instead of a priority level (kept for compatibility; `priority` wins when both are given). */
  nice?: number;
  /** Watchdog restarts allowed per task within restartWindowMs before it is killed instead. Default 3. */
  maxRestarts?: number;
  /** Default 60 000 ms. */
  restartWindowMs?: number;
  /** First watchdog restart waits this long, doubling for each further one in the window. Default 250 ms. */
  restartBackoffMs?: number;
  /** How often CPU and memory of task processes are sampled from /proc. Default 1000 ms; at most MAX_TIMER_MS. */
  sampleIntervalMs?: number;
  /** Progress events per task are coalesced to at most one per this interval. Default 50 ms; at most MAX_TIMER_MS. */
  progressIntervalMs?: number;
  /**
   * Modules (paths or file: URLs) that prewarmed runners import while they wait,
   * e.g. the task modules you are about to start, so a start skips loading them.
   */
  preload?: string[];
  /** Makes task ids; default "1", "2", ... The daemon passes one that continues its journal. */
  nextId?: () => string;
  /**
   * Names this supervisor's lineage mark (TASKWARDEN_OWNER_<token>, 1-64 letters, digits or _),
   * the environment variable by which its tasks' processes are found (see README, No orphans).
   * Default: random. The daemon derives one from its state directory, so that a later daemon
   * finds what a crashed one left behind.
   */
  lineageToken?: string;
  /**
   * How task processes are held: 'auto' (default) a cgroup per task where this process can make
   * one (see README, No orphans), else a process group; 'cgroup' requires the cgroup (start-up
   * fails, saying why, where there is none); 'process-group' never uses one.
   * $TASKWARDEN_CGROUPS=off turns 'auto' into 'process-group'.
   */
  containment?: Containment;
  /**
   * Memory limit of each task in bytes (all its processes together), default none. Over it the
   * kernel's OOM killer ends the task, which fails with error code OOM_KILLED. Per task:
   * spec.memoryMax. Needs a cgroup memory controller: start() refuses it where there is none.
   */
  memoryMax?: number;
  /**
   * A reusable runner (spec.reuse) whose resident memory is above this after a task is replaced
   * instead of reused: a task that grew the heap (a cache, a leak) does not pass it on. Default
   * 1 GiB.
   */
  runnerMaxRssBytes?: number;
  /** How long a reusable runner waits for its next task before it is ended. Default 10 000 ms; at most MAX_TIMER_MS. */
  runnerIdleMs?: number;
}

export type Containment = 'auto' | 'cgroup' | 'process-group';
export const CONTAINMENTS: readonly Containment[] = ['auto', 'cgroup', 'process-group'];

export type ResolvedOptions = Required<Omit<SupervisorOptions, 'nice' | 'priority' | 'lineageToken' | 'memoryMax'>> & {
  cpu: CpuPriority;
  memoryMax?: number;
};

export function resolveOptions(options: SupervisorOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('Supervisor options must be an object');
  let counter = 0;
  const resolved: ResolvedOptions = {
    concurrency: options.concurrency ?? os.availableParallelism(),
    graceMs: options.graceMs ?? 3000,
    stallAfterMs: options.stallAfterMs ?? 10_000,
    onStall: options.onStall ?? 'warn',
    prewarm: options.prewarm ?? 1,
    cpu: resolveCpuPriority(options.priority, options.nice),
    maxRestarts: options.maxRestarts ?? 3,
    restartWindowMs: options.restartWindowMs ?? 60_000,
    restartBackoffMs: options.restartBackoffMs ?? 250,
    sampleIntervalMs: options.sampleIntervalMs ?? 1000,
    progressIntervalMs: options.progressIntervalMs ?? 50,
    nextId: options.nextId ?? (() => String(++counter)),
    preload: (options.preload ?? []).map(toModuleUrl),
    containment: options.containment ?? 'auto',
    runnerMaxRssBytes: options.runnerMaxRssBytes ?? DEFAULT_RUNNER_MAX_RSS_BYTES,
    runnerIdleMs: options.runnerIdleMs ?? 10_000,
    ...(options.memoryMax !== undefined
      ? { memoryMax: checkMemoryMax(options.memoryMax, 'Supervisor option memoryMax') }
      : {}),
  };
  if (!CONTAINMENTS.includes(resolved.containment)) {
    throw new TypeError(
      `Supervisor option containment must be 'auto', 'cgroup' or 'process-group', got ${JSON.stringify(resolved.containment)}`,
    );
  }
  positiveInteger('concurrency', resolved.concurrency);
  nonNegative('graceMs', resolved.graceMs);
  timerDelay('graceMs', resolved.graceMs);
  positive('stallAfterMs', resolved.stallAfterMs, true);
  if (!['warn', 'cancel', 'kill', 'restart'].includes(resolved.onStall)) {
    throw new TypeError(
      `Supervisor option onStall must be 'warn', 'cancel', 'kill' or 'restart', got ${JSON.stringify(resolved.onStall)}`,
    );
  }
  nonNegativeInteger('prewarm', resolved.prewarm);
  positiveInteger('runnerMaxRssBytes', resolved.runnerMaxRssBytes);
  positive('runnerIdleMs', resolved.runnerIdleMs);
  timerDelay('runnerIdleMs', resolved.runnerIdleMs);
  nonNegativeInteger('maxRestarts', resolved.maxRestarts);
  positive('restartWindowMs', resolved.restartWindowMs);
  nonNegative('restartBackoffMs', resolved.restartBackoffMs);
  positive('sampleIntervalMs', resolved.sampleIntervalMs);
  timerDelay('sampleIntervalMs', resolved.sampleIntervalMs);
  nonNegative('progressIntervalMs', resolved.progressIntervalMs);
  timerDelay('progressIntervalMs', resolved.progressIntervalMs);
  // stallAfterMs, restartWindowMs and restartBackoffMs never reach a timer as they are
  // (compared with elapsed time; the sample interval is at most sampleIntervalMs; the
  // backoff is capped at 30 s), so any positive value works and none is bounded here.
  if (typeof resolved.nextId !== 'function')
    throw new TypeError('Supervisor option nextId must be a function returning a string');
  return resolved;
}

export const DEFAULT_RUNNER_MAX_RSS_BYTES = 1024 * 1024 * 1024;

function checkMemoryMax(value: unknown, what: string): number {
  const parsed = MemoryMaxSchema.safeParse(value);
  if (!parsed.success) throw new TypeError(`${what} ${parsed.error.issues[0]!.message}, got ${String(value)}`);
  return parsed.data;
}

/** How many tasks one runner may serve under spec.reuse (1: a runner per task, as without it). */
export function reuseLimit(reuse: boolean | number | undefined): number {
  if (reuse === true) return Infinity;
  return typeof reuse === 'number' ? reuse : 1;
}

/** The environment variable that sets the default priority (when neither `priority` nor `nice` is given). */
export const PRIORITY_ENV = 'TASKWARDEN_PRIORITY';

function resolveCpuPriority(priority: unknown, nice: unknown): CpuPriority {
  if (priority !== undefined) return cpuPriority(checkPriority(priority, 'Supervisor option priority'));
  if (nice === undefined) {
    const fromEnv = process.env[PRIORITY_ENV];
    return cpuPriority(fromEnv ? checkPriority(fromEnv, `the environment variable ${PRIORITY_ENV}`) : 'idle');
  }
  if (!Number.isInteger(nice) || (nice as number) < 0 || (nice as number) > 19) {
    throw new TypeError(`Supervisor option nice must be an integer from 0 to 19, got ${String(nice)}`);
  }
  return { nice: nice as number, schedIdle: false };
}

export function checkPriority(value: unknown, what: string): Priority {
  if (!PRIORITIES.includes(value as Priority)) {
    throw new TypeError(`${what} must be ${PRIORITIES.map((p) => `'${p}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as Priority;
}

function toModuleUrl(entry: unknown): string {
  if (typeof entry !== 'string' || entry.length === 0)
    throw new TypeError(`Supervisor option preload must list module paths or file: URLs, got ${String(entry)}`);
  return entry.startsWith('file:') ? entry : pathToFileURL(resolve(entry)).href;
}

function positiveInteger(name: string, value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new TypeError(`Supervisor option ${name} must be a positive integer, got ${String(value)}`);
}
function nonNegativeInteger(name: string, value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 0)
    throw new TypeError(`Supervisor option ${name} must be a non-negative integer, got ${String(value)}`);
}
function positive(name: string, value: unknown, allowInfinity = false): void {
  if (typeof value !== 'number' || !(value > 0) || (!allowInfinity && !Number.isFinite(value))) {
    throw new TypeError(
      `Supervisor option ${name} must be a positive number of milliseconds${allowInfinity ? ' (or Infinity)' : ''}, got ${String(value)}`,
    );
  }
}
/** Values that become a setTimeout/setInterval delay: Node turns a longer one into 1 ms. */
function timerDelay(name: string, value: number): void {
  if (value > MAX_TIMER_MS)
    throw new TypeError(`Supervisor option ${name} must be at most ${MAX_TIMER_TEXT}, got ${String(value)}`);
}
function nonNegative(name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new TypeError(
      `Supervisor option ${name} must be a non-negative number of milliseconds, got ${String(value)}`,
    );
  }
}

/**
 * Checks a task spec against the one spec schema (spec.ts: the daemon and the UI's templates
 * use the same) and returns a copy the supervisor owns (the caller may mutate theirs).
 */
export function validateSpec(spec: unknown): TaskSpec {
  const parsed = TaskSpecSchema.safeParse(spec, PARSE_OPTIONS);
  if (!parsed.success) throw new TypeError(formatIssues('task spec', parsed.error.issues, { quotePath: true }));
  const valid = parsed.data;
  if ('module' in valid && valid.input !== undefined) {
    try {
      structuredClone(valid.input);
    } catch (error) {
      throw new TypeError(
        `task spec "input" is not structured-clonable (functions, symbols, class instances with private state can't cross processes): ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  return valid;
}
