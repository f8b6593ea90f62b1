/**
 * A client's view of the cluster's tasks and agents: the task records (records.ts) as they are,
 * with what BullMQ knows better (a record that says running while its agent died), the output BullMQ
 * keeps, and the agents alive now.
 */
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { isFinishedState, type RecordedOutcome } from '../journal/recorded-state.js';
import { unknownTaskError } from './cluster-error.js';
import { AgentInfoSchema, type AgentInfo } from './control.js';
import type { ClusterKeys } from './keys.js';
import { snapshotFromHash, type ClusterTaskSnapshot } from './records.js';

/** How many tasks `list` reads at most (the newest). */
const LIST_LIMIT = 500;

export class TaskView {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #queue: Queue;
  readonly #url: string;

  constructor(redis: Redis, keys: ClusterKeys, queue: Queue, url: string) {
    this.#redis = redis;
    this.#keys = keys;
    this.#queue = queue;
    this.#url = url;
  }

  async get(taskId: string): Promise<ClusterTaskSnapshot> {
    const task = snapshotFromHash(await this.#redis.hgetall(this.#keys.task(taskId)));
    if (!task) throw unknownTaskError(taskId, this.#keys.queue, this.#url);
    return (await this.#reconcile([task]))[0]!;
  }

  /** Active tasks, oldest first; with includeFinished, the newest 500 of all. */
  async list(options: { includeFinished?: boolean } = {}): Promise<ClusterTaskSnapshot[]> {
    const ids = options.includeFinished
      ? await this.#redis.zrange(this.#keys.tasks, String(-LIST_LIMIT), '-1')
      : await this.activeIds();
    const tasks = await this.read(ids);
    const shown = options.includeFinished ? tasks : tasks.filter((task) => !isFinishedState(task.state));
    return this.#reconcile(shown);
  }

  /** Every task not in the history (ZDIFF keeps the creation order). */
  async activeIds(): Promise<string[]> {
    return (await this.#redis.call('ZDIFF', '2', this.#keys.tasks, this.#keys.ended)) as string[];
  }

  /** Finished tasks, most recently ended first. */
  async history(limit = 50): Promise<ClusterTaskSnapshot[]> {
    return this.read(await this.#redis.zrevrange(this.#keys.ended, '0', String(limit - 1)));
  }

  /** The output lines BullMQ keeps for the task's current job (the last 1000). */
  async logs(taskId: string): Promise<string[]> {
    const task = await this.get(taskId);
    if (!task.jobId) return [];
    return (await this.#queue.getJobLogs(task.jobId, 0, -1, true)).logs;
  }

  /** The agents alive now (each refreshes its entry every second; a dead one's expires in 5 s). */
  async agents(): Promise<AgentInfo[]> {
    const names = await this.#redis.smembers(this.#keys.agents);
    if (names.length === 0) return [];
    const values = await this.#redis.mget(names.map((name) => this.#keys.agent(name)));
    return values.flatMap((value) => {
      const parsed = value ? AgentInfoSchema.safeParse(JSON.parse(value)) : undefined;
      return parsed?.success ? [parsed.data] : [];
    });
  }

  /** The records of these tasks as they are, without asking BullMQ (missing ones left out). */
  async read(ids: string[]): Promise<ClusterTaskSnapshot[]> {
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.#keys.task(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies.flatMap(([error, hash]) => {
      const task = error ? undefined : snapshotFromHash(hash as Record<string, string>);
      return task ? [task] : [];
    });
  }

  /**
   * A record says running but BullMQ knows better when its agent died: the job waits for its next
   * attempt (shown queued), or BullMQ gave up on it (shown interrupted, with BullMQ's reason).
   */
  async #reconcile(tasks: ClusterTaskSnapshot[]): Promise<ClusterTaskSnapshot[]> {
    return Promise.all(
      tasks.map(async (task) => {
        if (task.state === 'queued' || isFinishedState(task.state) || !task.jobId) return task;
        const state = await this.#queue.getJobState(task.jobId);
        if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
          return { ...task, state: 'queued', attempt: task.attempt + 1, pid: undefined };
        }
        if (state === 'failed' || state === 'unknown' || state === 'completed') {
          // The agent writes the record before BullMQ's end: a record that is still active now was read before that.
          const now = snapshotFromHash(await this.#redis.hgetall(this.#keys.task(task.id)));
          if (now && (isFinishedState(now.state) || now.jobId !== task.jobId)) return now;
          if (state === 'completed') return task;
          const job = await this.#queue.getJob(task.jobId);
          const message = `agent ${task.host ?? '?'} stopped answering while the task was ${task.state}${job?.failedReason ? ` (${job.failedReason})` : ''}`;
          const outcome: RecordedOutcome = {
            state: 'interrupted',
            durationMs: 0,
            attempt: task.attempt,
            error: { name: 'Interrupted', message, code: 'INTERRUPTED' },
          };
          return { ...task, state: 'interrupted', outcome, pid: undefined };
        }
        return task;
      }),
    );
  }
}
