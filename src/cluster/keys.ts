/**
 * Every Redis key and channel of a taskwarden cluster, in one place. BullMQ keeps its own keys
 * (`bull:<queue>:…`); ours sit beside them under `taskwarden:<queue>:…`, so one Redis can hold
 * several clusters (one per queue name).
 */

export const BULL_PREFIX = 'bull';
export const DEFAULT_QUEUE = 'taskwarden';

/** Stop records outlive any job that could still read them. */
export const STOP_RECORD_TTL_S = 7 * 24 * 3600;

/** Queue names become part of keys and channels: keep them plain. */
export const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export class ClusterKeys {
  readonly base: string;

  constructor(readonly queue: string) {
    if (!QUEUE_NAME.test(queue)) throw new TypeError(`queue name "${queue}" must be 1-64 of A-Z a-z 0-9 _ . -`);
    this.base = `taskwarden:${queue}`;
  }

  /** Counter behind task ids ("1", "2", …): one id per task across the cluster. */
  get seq(): string {
    return `${this.base}:seq`;
  }
  /** Hash: the cluster's record of a task (spec, state, host, attempt, progress, outcome). */
  task(taskId: string): string {
    return `${this.base}:task:${taskId}`;
  }
  /** Sorted set of every task id, by creation time. */
  get tasks(): string {
    return `${this.base}:tasks`;
  }
  /** Sorted set of finished task ids, by end time. */
  get ended(): string {
    return `${this.base}:ended`;
  }
  /** Hash: the durable stop record of a BullMQ job (kind, at). */
  stop(jobId: string): string {
    return `${this.stopPrefix}${jobId}`;
  }
  get stopPrefix(): string {
    return `${this.base}:stop:`;
  }
  /** Pub/sub: stop requests to the agents. */
  get control(): string {
    return `${this.base}:control`;
  }
  /** Pub/sub: task events from the agents and clients, for watchers. */
  get events(): string {
    return `${this.base}:events`;
  }
  /** Key with a TTL per live agent: `agent:<name>` holds its description. */
  agent(name: string): string {
    return `${this.base}:agent:${name}`;
  }
  /** Set of agent names ever seen (live ones also have their agent key). */
  get agents(): string {
    return `${this.base}:agents`;
  }
  /** The id of the emergency stop under way (with a TTL): agents that reconnect take it up. */
  get currentStopAll(): string {
    return `${this.base}:stop-all:current`;
  }
  /** Hash: agent name -> its report for one emergency stop. */
  stopAllReports(stopId: string): string {
    return `${this.base}:stop-all:${stopId}`;
  }

  /** BullMQ's lock key of a job: its value is the token of the worker that holds the job. */
  lock(jobId: string): string {
    return `${BULL_PREFIX}:${this.queue}:${jobId}:lock`;
  }
  /** BullMQ's set of jobs the stalled checker is watching (an extended lock leaves it). */
  get stalled(): string {
    return `${BULL_PREFIX}:${this.queue}:stalled`;
  }
}
