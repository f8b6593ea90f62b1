/**
 * The jobs an agent holds: each one's local state while the agent runs it (its task, the stop it
 * was asked for, a lost lease, output and progress not sent yet), found by job id or task id, and
 * the one rule of which stop wins and how it reaches the task.
 */
import type { Job } from 'bullmq';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Task } from '../supervisor/task.js';
import {
  isTerminalState,
  type LogLine,
  type Progress,
  type TaskOutcome,
  type TaskSnapshot,
} from '../supervisor/types.js';
import type { ClusterTaskSnapshot } from './records.js';
import type { StopKind } from './scripts.js';

/** Why a held job is being stopped: a client's stop, an emergency stop, or this agent shutting down. */
export type StopCause = StopKind | 'stop-all' | 'shutdown';
const STOP_RANK: Record<StopCause, number> = { shutdown: 0, restart: 1, 'stop-all': 2, cancel: 2, kill: 3 };

export interface HeldJob {
  readonly taskId: string;
  readonly job: Job;
  readonly token: string;
  task?: Task;
  stop?: StopCause;
  /** The stop the task has been given (a stop arrives twice: its signal's publish, then its record's). */
  applied?: StopCause;
  /** Why the lease was lost; the attempt's results are not ours to write any more. */
  lost?: string;
  logs: LogLine[];
  droppedLogs: number;
  progress?: Progress;
  progressSentAt: number;
  /** Resolves when this job has no process left here (its task ended, or it never started). */
  readonly gone: Promise<TaskOutcome | undefined>;
  markGone(outcome: TaskOutcome | undefined): void;
  /** Resolves when this agent is done with the job: its end is in the task's record (or cannot be). */
  readonly settled: Promise<void>;
  markSettled(): void;
}

export class HeldJobs {
  readonly #supervisor: Supervisor;
  readonly #byJob = new Map<string, HeldJob>();
  readonly #byTask = new Map<string, HeldJob>();

  constructor(supervisor: Supervisor) {
    this.#supervisor = supervisor;
  }

  get size(): number {
    return this.#byJob.size;
  }

  all(): HeldJob[] {
    return [...this.#byJob.values()];
  }

  byJob(jobId: string): HeldJob | undefined {
    return this.#byJob.get(jobId);
  }

  byTask(taskId: string): HeldJob | undefined {
    return this.#byTask.get(taskId);
  }

  hold(taskId: string, job: Job, token: string): HeldJob {
    const held = newHeldJob(taskId, job, token);
    this.#byJob.set(job.id!, held);
    this.#byTask.set(taskId, held);
    return held;
  }

  release(held: HeldJob): void {
    this.#byJob.delete(held.job.id!);
    if (this.#byTask.get(held.taskId) === held) this.#byTask.delete(held.taskId);
  }

  /** A stronger stop replaces a weaker one (a weaker one is ignored); a running task is signalled at once. */
  stop(held: HeldJob, cause: StopCause): void {
    if (held.stop !== undefined && STOP_RANK[cause] < STOP_RANK[held.stop]) return;
    if (held.stop === undefined || STOP_RANK[cause] > STOP_RANK[held.stop]) held.stop = cause;
    const task = held.task;
    if (!task || isTerminalState(task.state) || held.applied === held.stop) return;
    held.applied = held.stop;
    if (held.stop === 'kill' || held.stop === 'restart') this.#supervisor.kill(held.taskId);
    else this.#supervisor.cancel(held.taskId);
  }

  /** The job's lease is lost: nothing of it is ours to write any more, and its task is killed now. */
  lose(jobId: string, why: string): HeldJob | undefined {
    const held = this.#byJob.get(jobId);
    if (!held) return undefined;
    held.lost = why;
    if (held.task) this.#supervisor.kill(held.taskId);
    return held;
  }
}

/** The local snapshot of a held job's attempt as the cluster shows it: with its agent and job. */
export function clusterSnapshot(held: HeldJob, task: TaskSnapshot, host: string): ClusterTaskSnapshot {
  return { ...task, host, jobId: held.job.id! };
}

function newHeldJob(taskId: string, job: Job, token: string): HeldJob {
  let markGone!: (outcome: TaskOutcome | undefined) => void;
  const gone = new Promise<TaskOutcome | undefined>((resolve) => (markGone = resolve));
  let markSettled!: () => void;
  const settled = new Promise<void>((resolve) => (markSettled = resolve));
  return { taskId, job, token, logs: [], droppedLogs: 0, progressSentAt: 0, gone, markGone, settled, markSettled };
}
