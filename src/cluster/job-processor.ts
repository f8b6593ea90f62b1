/**
 * One job on the agent: its data read, the attempt begun under the job's lock (fenced: a stop
 * record can end it before it starts), its task run on the local Supervisor, and its end written:
 * the outcome into the record and to BullMQ, or the job back in the queue (restart, shutdown), or
 * an error saying the job was lost (its lease ran out: the queue hands it out again).
 */
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { z } from 'zod';
import { decodeValue, encodeValue } from '../protocol/index.js';
import { TaskSpecSchema } from '../protocol/schemas.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Task } from '../supervisor/task.js';
import { isTerminalState, type TaskOutcome, type TaskSnapshot, type TaskSpec } from '../supervisor/types.js';
import { clusterSnapshot, type HeldJob, type HeldJobs, type StopCause } from './held-job.js';
import type { JobReporter } from './job-reporter.js';
import type { ClusterKeys } from './keys.js';
import type { Leases } from './lease.js';
import {
  encodeEvent,
  endFields,
  notStartedOutcome,
  snapshotFields,
  snapshotFromHash,
  type ClusterTaskSnapshot,
  type RecordHash,
} from './records.js';
import { flatFields, type ScriptedRedis, type StopKind } from './scripts.js';

/** The data of a taskwarden job in the queue. */
export const JobDataSchema = z.object({ taskId: z.string(), spec: z.unknown(), createdAt: z.number() });

export interface JobProcessorOptions {
  /** The agent's name, the host of its tasks. */
  name: string;
  redis: ScriptedRedis;
  keys: ClusterKeys;
  lockDurationMs: number;
  supervisor: Supervisor;
  held: HeldJobs;
  leases: Leases;
  reporter: JobReporter;
}

interface JobData {
  taskId: string;
  spec: TaskSpec;
  createdAt: number;
  token: string;
}

export class JobProcessor {
  readonly #options: JobProcessorOptions;

  constructor(options: JobProcessorOptions) {
    this.#options = options;
  }

  /** BullMQ's processor: resolves with the task's result, or throws how the job ended. */
  async process(job: Job, token: string | undefined): Promise<unknown> {
    const { taskId, spec, createdAt, token: lockToken } = readJob(job, token);
    const { held: heldJobs, leases } = this.#options;
    const jobId = job.id!;
    const held = heldJobs.hold(taskId, job, lockToken);
    leases.add(jobId, lockToken, job.processedOn);
    try {
      return await this.#run(held, spec, createdAt);
    } finally {
      held.markGone(undefined);
      held.markSettled();
      leases.remove(jobId);
      heldJobs.release(held);
    }
  }

  async #run(held: HeldJob, spec: TaskSpec, createdAt: number): Promise<unknown> {
    const { supervisor, name } = this.#options;
    const { taskId } = held;
    // Never two attempts of a task at once here either: one still stopping is waited for.
    const previous = supervisor.get(taskId);
    if (previous && !isTerminalState(previous.state)) await previous.done;
    if (held.lost) throw this.#lostError(held);
    const begun = await this.#begin(held);
    if ('stopped' in begun) return await this.#endUnstarted(held, notStartedOutcome(taskId, begun.stopped));
    if (held.stop === 'shutdown') return await this.#requeue(held, undefined, 'shutdown');
    if (previous) supervisor.clearFinished();
    let task: Task;
    try {
      task = supervisor.start(spec, { id: taskId, attempt: begun.attempt, createdAt });
    } catch (error) {
      const message = `agent ${name} could not start task ${taskId}: ${error instanceof Error ? error.message : String(error)}`;
      return await this.#endUnstarted(held, {
        state: 'failed',
        durationMs: 0,
        attempt: begun.attempt,
        error: { name: 'StartError', message, code: 'START_FAILED' },
      });
    }
    held.task = task; // journaled by the supervisor's 'created' event
    if (held.stop) this.#options.held.stop(held, held.stop);
    const outcome = await task.done;
    held.markGone(outcome);
    await this.#options.reporter.flush(held);
    if (held.lost) throw this.#lostError(held);
    // (read again: a stop may have come while the task ran)
    const stop = held.stop as StopCause | undefined;
    if ((stop === 'restart' || stop === 'shutdown') && outcome.state !== 'completed')
      return await this.#requeue(held, task.snapshot(), stop);
    return await this.#finish(held, task.snapshot(), outcome);
  }

  /**
   * The attempt begins under the job's lock (scripts.ts, BEGIN; the lock renewed with it): its
   * number, or the stop that ends the job before it starts (its stop record, or one heard here).
   */
  async #begin(held: HeldJob): Promise<{ attempt: number } | { stopped: 'cancel' | 'kill' | 'stop-all' }> {
    const { redis, keys: k, lockDurationMs, name, leases } = this.#options;
    const jobId = held.job.id!;
    const sentAt = performance.now();
    const [code, value] = await redis.twBegin(
      k.lock(jobId),
      k.stalled,
      k.task(held.taskId),
      k.stop(jobId),
      k.ended,
      held.token,
      lockDurationMs,
      jobId,
      name,
      Date.now(),
      held.taskId,
    );
    if (code === -1) {
      held.lost ??= 'its lock was gone before it started';
      throw this.#lostError(held);
    }
    leases.confirmed(jobId, sentAt);
    const stopped =
      code === 0
        ? (value as StopKind)
        : held.stop !== undefined && held.stop !== 'restart' && held.stop !== 'shutdown'
          ? held.stop
          : undefined;
    if (stopped) return { stopped: stopped === 'stop-all' ? 'stop-all' : stopped === 'kill' ? 'kill' : 'cancel' };
    return { attempt: Number(value) };
  }

  /** The attempt's outcome into the record (fenced), then to BullMQ (fenced by BullMQ itself). */
  async #finish(held: HeldJob, snapshot: TaskSnapshot, outcome: TaskOutcome): Promise<unknown> {
    const { name } = this.#options;
    const task = clusterSnapshot(held, snapshot, name);
    const written = await this.#writeEnd(held, task, snapshot.endedAt ?? Date.now(), snapshotFields(snapshot, name));
    if (written !== 1) {
      held.lost ??= 'its lock was gone when the task ended';
      throw this.#lostError(held);
    }
    if (outcome.state === 'completed') return outcome.result === undefined ? null : encodeValue(outcome.result);
    const error = outcome.error;
    const message = `task ${held.taskId} ${outcome.state}${error ? `: ${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}` : outcome.stopReason ? ` (${outcome.stopReason})` : ''}`;
    // A stopped task is never retried by BullMQ; a failed one is, if the job asked for attempts.
    if (outcome.state === 'failed') throw new Error(message);
    throw new UnrecoverableError(message);
  }

  /** A job that ends here without a process (stopped before it started, or refused by the Supervisor). */
  async #endUnstarted(held: HeldJob, outcome: TaskOutcome): Promise<never> {
    const { redis, keys: k } = this.#options;
    const now = Date.now();
    const fields = endFields(outcome, now);
    // The record keeps what the client wrote (name, spec); only the end is added.
    const task = snapshotFromHash({ ...(await redis.hgetall(k.task(held.taskId))), ...fields });
    await this.#writeEnd(held, task, now, fields);
    throw new UnrecoverableError(outcome.error!.message);
  }

  /** The end into the task's record and to the watchers, under the job's lock (scripts.ts, FINISH): 1 if written. */
  #writeEnd(
    held: HeldJob,
    task: ClusterTaskSnapshot | undefined,
    endedAt: number,
    fields: RecordHash,
  ): Promise<number> {
    const { redis, keys: k } = this.#options;
    const jobId = held.job.id!;
    const event = task ? encodeEvent({ type: 'TASK_COMPLETE', task }) : '';
    return redis.twFinish(
      k.lock(jobId),
      k.task(held.taskId),
      k.ended,
      k.stop(jobId),
      held.token,
      k.events,
      event,
      held.taskId,
      endedAt,
      ...flatFields(fields),
    );
  }

  /** Restart or shutdown: the job goes back to the queue for its next attempt, anywhere. */
  async #requeue(held: HeldJob, snapshot: TaskSnapshot | undefined, why: 'restart' | 'shutdown'): Promise<never> {
    const { redis, keys: k, name } = this.#options;
    const jobId = held.job.id!;
    const task = snapshot
      ? {
          ...clusterSnapshot(held, snapshot, name),
          state: 'queued',
          attempt: snapshot.attempt + 1,
          pid: undefined,
          outcome: undefined,
          endedAt: undefined,
          startedAt: undefined,
          stopReason: why === 'restart' ? 'restart' : undefined,
        }
      : undefined;
    await redis.twUpdate(
      k.lock(jobId),
      k.task(held.taskId),
      held.token,
      k.events,
      task ? encodeEvent({ type: 'TASK_STATUS', task, previous: snapshot!.state }) : '',
      ...flatFields({ state: 'queued', ...(why === 'restart' ? { stopReason: 'restart' } : {}) }),
    );
    await held.job.moveToWait(held.token);
    throw new WaitingError();
  }

  #lostError(held: HeldJob): Error {
    return new Error(
      `task ${held.taskId}: agent ${this.#options.name} lost job ${held.job.id} (${held.lost}); the queue hands it out again`,
    );
  }
}

/** The job's data, or an error that BullMQ never retries: the job is not a taskwarden task. */
function readJob(job: Job, token: string | undefined): JobData {
  const parsed = JobDataSchema.safeParse(job.data);
  if (!parsed.success || token === undefined)
    throw new UnrecoverableError(`job ${job.id} is not a taskwarden task (its data has no taskId, spec and createdAt)`);
  const { taskId, createdAt } = parsed.data;
  try {
    return { taskId, createdAt, token, spec: TaskSpecSchema.parse(decodeValue(parsed.data.spec, 'spec')) };
  } catch (error) {
    throw new UnrecoverableError(
      `task ${taskId}: its spec in job ${job.id} is not valid: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
