/**
 * The agent's side of the control channel (control.ts): a stop of a job held here reaches its task
 * at once, an emergency stop stops every task held here and is reported once their ends are in
 * their records, a pause or resume is done by the Supervisor and answered. Pub/sub is at most
 * once: after every reconnect the durable stop records and the current emergency stop are read.
 */
import { Redis } from 'ioredis';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { TaskOutcome } from '../supervisor/types.js';
import { redisOptions } from './connection.js';
import { parseControl, type AgentStopReport, type PauseDoneMessage } from './control.js';
import type { HeldJob, HeldJobs } from './held-job.js';
import type { ClusterKeys } from './keys.js';
import type { ScriptedRedis, StopKind } from './scripts.js';

export interface ControlListenerOptions {
  /** The cluster's Redis (connection.ts): the listener has a connection of its own. */
  url: string;
  /** The agent's name, in its answers and reports. */
  name: string;
  redis: ScriptedRedis;
  keys: ClusterKeys;
  held: HeldJobs;
  supervisor: Supervisor;
  log: (line: string) => void;
}

export class ControlListener {
  readonly #options: ControlListenerOptions;
  readonly #subscriber: Redis;
  readonly #stopAllsSeen = new Set<string>();
  #subscribedOnce = false;

  constructor(options: ControlListenerOptions) {
    this.#options = options;
    this.#subscriber = new Redis(redisOptions(options.url, `taskwarden-agent-control:${options.name}`));
    this.#subscriber.on('error', () => {}); // reconnects by itself; the agent says once that Redis is away
  }

  /** Subscribed, and the emergency stop under way (if any) taken up. */
  async listen(): Promise<void> {
    this.#subscriber.on('message', (_channel, message) => this.#onControl(message));
    this.#subscriber.on('ready', () => void this.#onSubscriberReady());
    this.#subscriber.on('end', () => {});
    await this.#subscriber.subscribe(this.#options.keys.control);
    this.#subscribedOnce = true;
    await this.#checkCurrentStopAll();
  }

  close(): void {
    this.#subscriber.disconnect();
  }

  #onControl(text: string): void {
    const message = parseControl(text);
    if (!message) return;
    const { held: heldJobs } = this.#options;
    if (message.type === 'stop') {
      const held = heldJobs.byJob(message.jobId);
      if (held) heldJobs.stop(held, message.kind);
    } else if (message.type === 'stop-all') {
      void this.#stopAll(message.stopId);
    } else if (message.type === 'pause') {
      const held = heldJobs.byJob(message.jobId);
      if (held) void this.#pause(held, message.requestId, message.resume).catch(() => {});
    }
  }

  /**
   * A client's pause or resume of a job held here: the Supervisor's own (NOT_PAUSABLE for a task
   * that is not running, or not paused), then the answer. The answer goes out on the connection that
   * wrote the paused state to the record, after it: the client that reads the record then sees it.
   */
  async #pause(held: HeldJob, requestId: string, resume: boolean): Promise<void> {
    const { name, supervisor, redis, keys } = this.#options;
    let error: PauseDoneMessage['error'];
    try {
      if (!held.task) {
        error = {
          code: 'NOT_PAUSABLE',
          message: `task ${held.taskId} is starting on agent ${name}: only a running task can be paused`,
        };
      } else if (resume) supervisor.resume(held.taskId);
      else supervisor.pause(held.taskId);
    } catch (caught) {
      const code = (caught as { code?: unknown }).code;
      error = {
        code: typeof code === 'string' ? code : 'PAUSE_FAILED',
        message: `agent ${name}: ${caught instanceof Error ? caught.message : String(caught)}`,
      };
    }
    const answer: PauseDoneMessage = { type: 'pause-done', requestId, agent: name, ...(error ? { error } : {}) };
    await redis.publish(keys.control, JSON.stringify(answer));
  }

  /** The emergency stop, this agent's part: stop every task it holds, then say so. */
  async #stopAll(stopId: string): Promise<void> {
    if (this.#stopAllsSeen.has(stopId)) return;
    this.#stopAllsSeen.add(stopId);
    const { held: heldJobs, redis, keys: k, name } = this.#options;
    const startedAt = performance.now();
    const held = heldJobs.all();
    for (const each of held) heldJobs.stop(each, 'stop-all');
    const outcomes = (await Promise.all(held.map((each) => each.gone))).filter(
      (o): o is TaskOutcome => o !== undefined,
    );
    // Reported once the records say so too: a client that reads them after the stop resolves sees the ends.
    await Promise.all(held.map((each) => each.settled));
    const report: AgentStopReport = {
      cancelled: outcomes.filter((o) => o.state === 'cancelled').length,
      killed: outcomes.filter((o) => o.state === 'killed').length,
      finished: outcomes.filter((o) => o.state === 'completed' || o.state === 'failed').length,
      ms: performance.now() - startedAt,
    };
    await redis
      .multi()
      .hset(k.stopAllReports(stopId), name, JSON.stringify(report))
      .expire(k.stopAllReports(stopId), 3600)
      .publish(k.control, JSON.stringify({ type: 'stop-all-done', stopId, agent: name, report }))
      .exec();
  }

  /** After a reconnect: stops published while we were away are in the records. */
  async #onSubscriberReady(): Promise<void> {
    if (!this.#subscribedOnce) return;
    try {
      await this.#subscriber.subscribe(this.#options.keys.control);
      await this.#checkStopRecords();
      await this.#checkCurrentStopAll();
    } catch (error) {
      this.#options.log(`after reconnecting: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async #checkStopRecords(): Promise<void> {
    const { held: heldJobs, redis, keys } = this.#options;
    const held = heldJobs.all();
    if (held.length === 0) return;
    const pipeline = redis.pipeline();
    for (const each of held) pipeline.hget(keys.stop(each.job.id!), 'kind');
    const replies = (await pipeline.exec()) ?? [];
    held.forEach((each, i) => {
      const kind = replies[i]?.[1];
      if (typeof kind === 'string') heldJobs.stop(each, kind as StopKind);
    });
  }

  async #checkCurrentStopAll(): Promise<void> {
    const current = await this.#options.redis.get(this.#options.keys.currentStopAll);
    if (current) void this.#stopAll(current);
  }
}
