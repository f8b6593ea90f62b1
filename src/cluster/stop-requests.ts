/**
 * A client's stops of one task (cancel, kill, restart), wherever it runs: the signal published
 * first, then the durable stop record (scripts.ts); a task still queued is taken out of the queue
 * and ended without starting; a finished task that is restarted is queued again under a new job.
 */
import type { Queue } from 'bullmq';
import { isFinishedState, type RecordedState } from '../journal/recorded-state.js';
import { unknownTaskError } from './cluster-error.js';
import { STOP_RECORD_TTL_S, type ClusterKeys } from './keys.js';
import { encodeEvent, endFields, notStartedOutcome, snapshotFromHash, type ClusterTaskSnapshot } from './records.js';
import { flatFields, type ScriptedRedis, type StopKind } from './scripts.js';
import { addTaskJob } from './submission.js';
import type { TaskView } from './task-view.js';

/** What a stop request found and left: the task now, and its state before the request. */
export interface StopReply {
  task: ClusterTaskSnapshot;
  previous: RecordedState;
}

export class StopRequests {
  readonly #redis: ScriptedRedis;
  readonly #keys: ClusterKeys;
  readonly #queue: Queue;
  readonly #view: TaskView;
  readonly #url: string;

  constructor(redis: ScriptedRedis, keys: ClusterKeys, queue: Queue, view: TaskView, url: string) {
    this.#redis = redis;
    this.#keys = keys;
    this.#queue = queue;
    this.#view = view;
    this.#url = url;
  }

  async stop(taskId: string, kind: StopKind): Promise<StopReply> {
    const k = this.#keys;
    const at = Date.now();
    // The signal first, on its own: what the stop record's script publishes goes out only after
    // Redis has written the record to disk (scripts.ts, SIGNAL_STOP). Not pipelined, for the same reason.
    // The state before the stop is the one it saw: the task may have ended by the second script.
    const seen = await this.#redis.twSignalStop(k.task(taskId), kind, at, k.control, k.stopPrefix, taskId);
    const [state, , jobId] = await this.#redis.twRequestStop(
      k.task(taskId),
      kind,
      at,
      STOP_RECORD_TTL_S,
      k.control,
      '1',
      k.stopPrefix,
      taskId,
    );
    const previous = seen || state;
    if (!previous) throw unknownTaskError(taskId, k.queue, this.#url);
    // Still in the queue: take it out, so it never starts (BullMQ refuses while an agent holds it).
    if (previous === 'queued' && kind !== 'restart') await this.endQueued(taskId, jobId, kind);
    return { task: await this.#view.get(taskId), previous: previous as RecordedState };
  }

  /**
   * Kill the current attempt (if any) and run the task again, on any agent: same id, next attempt.
   * A finished task is queued again.
   */
  async restart(taskId: string): Promise<StopReply & { nextAttempt: number }> {
    const before = await this.#view.get(taskId);
    const nextAttempt = before.state === 'queued' ? before.attempt : before.attempt + 1;
    if (!isFinishedState(before.state)) return { ...(await this.stop(taskId, 'restart')), nextAttempt };
    const jobId = await this.#redis.twRequeueFinished(this.#keys.task(taskId), this.#keys.ended, taskId);
    if (jobId) {
      const task = await this.#view.get(taskId);
      await this.#redis.publish(this.#keys.events, encodeEvent({ type: 'TASK_STATUS', task, previous: before.state }));
      await addTaskJob(this.#queue, {
        taskId,
        jobId,
        name: task.name,
        spec: task.spec,
        createdAt: task.createdAt,
        attempts: 1,
      });
    }
    return { task: await this.#view.get(taskId), previous: before.state, nextAttempt };
  }

  /** A queued task's job out of the queue, and its record ended: it never starts. False if an agent took it first. */
  async endQueued(taskId: string, jobId: string, reason: 'cancel' | 'kill' | 'stop-all'): Promise<boolean> {
    if ((await this.#queue.remove(jobId)) !== 1) return false;
    const k = this.#keys;
    const now = Date.now();
    const fields = endFields(notStartedOutcome(taskId, reason), now);
    const task = snapshotFromHash({ ...(await this.#redis.hgetall(k.task(taskId))), ...fields });
    const event = task ? encodeEvent({ type: 'TASK_COMPLETE', task }) : '';
    return (
      (await this.#redis.twFinishQueued(
        k.task(taskId),
        k.ended,
        k.stop(jobId),
        k.events,
        event,
        taskId,
        now,
        ...flatFields(fields),
      )) === 1
    );
  }
}
