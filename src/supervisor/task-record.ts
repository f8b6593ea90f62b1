/**
 * The supervisor's bookkeeping for one task: what it was asked to run, its machine state, and
 * what its current attempt holds (process, cgroup, runner, timers, last progress and usage),
 * and the plain snapshot front ends see of it. Private to src/supervisor.
 */
import type { ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import type { LatestWins } from '../common/latest-wins.js';
import type { AttemptProcesses } from '../process/attempt-processes.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';
import type { CpuPriority } from '../process/priority.js';
import type { ReusableRunner } from './idle-runners.js';
import type { RestartIntensity } from './restart-intensity.js';
import type { MachineState } from './state-machine.js';
import type { Task } from './task.js';
import {
  isTerminalState,
  type Progress,
  type ResourceUsage,
  type StallInfo,
  type TaskOutcome,
  type TaskSnapshot,
  type TaskSpec,
} from './types.js';

export interface TaskRecord {
  readonly id: string;
  readonly name: string;
  readonly spec: TaskSpec;
  readonly kind: 'module' | 'command';
  readonly cpu: CpuPriority;
  readonly handle: Task;
  readonly createdAt: number;
  readonly restarts: RestartIntensity;
  /** Bytes, or undefined for no limit. */
  readonly memoryMax: number | undefined;
  /** Most tasks one runner may serve (spec.reuse); 1 without reuse. */
  readonly reuseLimit: number;
  /** Passes the task's progress on, at most once per progressIntervalMs. */
  readonly progressOut: LatestWins<Progress>;
  machine: MachineState;
  child?: ChildProcess;
  pid?: number;
  /** Every process of the attempt: its group, escapees, cgroup (see AttemptProcesses). */
  processes?: AttemptProcesses;
  /** The attempt's cgroup (cgroup containment): made before its spawn, removed once it is empty. */
  cgroup?: TaskCgroup;
  /** The reusable runner serving this attempt (spec.reuse), and what its release waits for. */
  runner?: ReusableRunner;
  release?: RunnerRelease;
  /** The last pid handed out when a reusable run was sent: what the task starts is younger. */
  runFloorPid?: number;
  /** Takes the attempt's listeners off its process (a reused runner outlives the attempt). */
  unwire?: () => void;
  startedAt?: number;
  endedAt?: number;
  progress?: Progress;
  lastActivityAt: number;
  stall?: StallInfo;
  usage?: ResourceUsage;
  timers: {
    grace?: NodeJS.Timeout;
    timeout?: NodeJS.Timeout;
    spawnDelay?: NodeJS.Timeout;
    priority?: NodeJS.Timeout;
    release?: NodeJS.Timeout;
  };
  done: Deferred;
}

/**
 * A reusable run ends when three things have arrived: the runner's result saying it stays idle,
 * and the end marker on stdout and on stderr. Only then is every line of the task's output read,
 * so none of it can be taken for the next task's.
 */
export interface RunnerRelease {
  readonly endMarker: string;
  stdout: boolean;
  stderr: boolean;
  rssBytes?: number;
}

export interface Deferred {
  promise: Promise<TaskOutcome>;
  resolve: (outcome: TaskOutcome) => void;
}

export function deferred(): Deferred {
  let resolvePromise!: (outcome: TaskOutcome) => void;
  const promise = new Promise<TaskOutcome>((r) => (resolvePromise = r));
  return { promise, resolve: resolvePromise };
}

export function snapshotOf(record: TaskRecord): TaskSnapshot {
  const m = record.machine;
  return {
    id: record.id,
    name: record.name,
    kind: record.kind,
    spec: record.spec,
    state: m.state,
    attempt: m.attempt,
    createdAt: record.createdAt,
    ...(record.pid !== undefined && !isTerminalState(m.state) ? { pid: record.pid } : {}),
    ...(record.progress ? { progress: record.progress } : {}),
    ...(record.usage ? { usage: record.usage } : {}),
    ...(record.stall ? { stall: { ...record.stall, silentForMs: Date.now() - record.lastActivityAt } } : {}),
    ...(record.startedAt !== undefined ? { startedAt: record.startedAt } : {}),
    ...(record.endedAt !== undefined && isTerminalState(m.state) ? { endedAt: record.endedAt } : {}),
    ...(m.outcome && isTerminalState(m.state) ? { outcome: m.outcome } : {}),
    ...(m.stopReason ? { stopReason: m.stopReason } : {}),
  };
}

export function defaultName(spec: TaskSpec): string {
  return 'module' in spec && spec.module !== undefined
    ? basename(spec.module).replace(/\.[cm]?[jt]s$/, '')
    : basename((spec as { command: string }).command);
}

/** The log line that says why a reusable task's runner was replaced. */
export function notReusedLine(record: TaskRecord, why: string): string {
  return `taskwarden: task ${record.id}: ${why}: its runner is not reused`;
}
