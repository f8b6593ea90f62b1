/**
 * ClusterClient: submit tasks to a taskwarden cluster, watch them, and stop them, on whichever agent
 * they run. Tasks go into the BullMQ queue as jobs; each keeps one task id across the cluster (its
 * record, records.ts); stops are a durable record plus a publish on the control channel (control.ts),
 * so the agent that holds the job acts at once, or when it takes the job, or when it reconnects.
 *
 * This class owns the connections and the events subscription, and composes the parts: submitting
 * (submission.ts), reading (task-view.ts), stops (stop-requests.ts), pause and resume
 * (pause-requests.ts) and the emergency stop (emergency-stop.ts).
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { DaemonEvent } from '../protocol/index.js';
import type { TaskSpec } from '../supervisor/types.js';
import { ClusterError } from './cluster-error.js';
import { displayUrl, redisOptions } from './connection.js';
import type { AgentInfo } from './control.js';
import { EmergencyStop, type ClusterStopAllResult } from './emergency-stop.js';
import { BULL_PREFIX, ClusterKeys, DEFAULT_QUEUE } from './keys.js';
import { PauseRequests } from './pause-requests.js';
import { decodeEvent, type ClusterTaskSnapshot } from './records.js';
import { withScripts, type ScriptedRedis } from './scripts.js';
import { StopRequests, type StopReply } from './stop-requests.js';
import { submitTask } from './submission.js';
import { TaskView } from './task-view.js';

export interface ClusterClientOptions {
  /** The cluster's Redis (connection.ts). */
  redis: string;
  queue?: string;
  /** How long connect() waits for Redis. Default 5000 ms. */
  connectTimeoutMs?: number;
}

export interface SubmitOptions {
  /** BullMQ attempts for a task that fails (a stopped task is never retried). Default 1. */
  attempts?: number;
}

/**
 * 'event': a task event of any agent (after subscribe()). 'resubscribed': the events connection is
 * back after Redis was unreachable since `downSince` (ms); what was published meanwhile is missed,
 * list() has the tasks as they are now. 'close': after close().
 */
type ClusterClientEvents = { event: [DaemonEvent]; resubscribed: [downSince: number]; close: [Error | undefined] };

export class ClusterClient extends EventEmitter<ClusterClientEvents> {
  readonly url: string;
  readonly queueName: string;
  readonly #keys: ClusterKeys;
  readonly #redis: ScriptedRedis;
  readonly #queue: Queue;
  readonly #view: TaskView;
  readonly #stops: StopRequests;
  readonly #pauses: PauseRequests;
  #subscriber: Redis | undefined;
  #closed = false;

  static async connect(options: ClusterClientOptions): Promise<ClusterClient> {
    const client = new ClusterClient(options);
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.#redis.ping(),
        new Promise(
          (_, reject) =>
            (timer = setTimeout(
              () =>
                reject(
                  new ClusterError(
                    'REDIS_UNREACHABLE',
                    `cannot reach the cluster's Redis at ${displayUrl(options.redis)} within ${timeoutMs} ms: is it running, and is the address right?`,
                  ),
                ),
              timeoutMs,
            )),
        ),
      ]);
    } catch (error) {
      client.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  private constructor(options: ClusterClientOptions) {
    super();
    this.url = options.redis;
    this.queueName = options.queue ?? DEFAULT_QUEUE;
    this.#keys = new ClusterKeys(this.queueName);
    this.#redis = withScripts(new Redis(redisOptions(options.redis, 'taskwarden-client')));
    this.#redis.on('error', () => {});
    this.#queue = new Queue(this.queueName, {
      connection: redisOptions(options.redis, 'taskwarden-client-queue') as ConnectionOptions,
      prefix: BULL_PREFIX,
    });
    this.#queue.on('error', () => {});
    this.#view = new TaskView(this.#redis, this.#keys, this.#queue, this.url);
    this.#stops = new StopRequests(this.#redis, this.#keys, this.#queue, this.#view, this.url);
    this.#pauses = new PauseRequests({ url: this.url, redis: this.#redis, keys: this.#keys, view: this.#view });
  }

  /** Queues a task; any agent of the queue takes it. Returns its record (state queued). */
  submit(spec: TaskSpec, options: SubmitOptions = {}): Promise<ClusterTaskSnapshot> {
    return submitTask(this.#redis, this.#keys, this.#queue, spec, options.attempts ?? 1);
  }

  // ---- reading ------------------------------------------------------------------------------

  get(taskId: string): Promise<ClusterTaskSnapshot> {
    return this.#view.get(taskId);
  }

  /** Active tasks, oldest first; with includeFinished, the newest 500 of all. */
  list(options: { includeFinished?: boolean } = {}): Promise<ClusterTaskSnapshot[]> {
    return this.#view.list(options);
  }

  /** Finished tasks, most recently ended first. */
  history(limit = 50): Promise<ClusterTaskSnapshot[]> {
    return this.#view.history(limit);
  }

  /** The output lines BullMQ keeps for the task's current job (the last 1000). */
  logs(taskId: string): Promise<string[]> {
    return this.#view.logs(taskId);
  }

  /** The agents alive now (each refreshes its entry every second; a dead one's expires in 5 s). */
  agents(): Promise<AgentInfo[]> {
    return this.#view.agents();
  }

  // ---- stopping -----------------------------------------------------------------------------

  /** Graceful: abort signal, cleanup, SIGTERM to the group, SIGKILL after the grace period; wherever it runs. */
  cancel(taskId: string): Promise<StopReply> {
    return this.#stops.stop(taskId, 'cancel');
  }

  /** SIGKILL to the task's whole process group now, wherever it runs. */
  kill(taskId: string): Promise<StopReply> {
    return this.#stops.stop(taskId, 'kill');
  }

  /**
   * Kill the current attempt (if any) and run the task again, on any agent: same id, next attempt.
   * A finished task is queued again.
   */
  restart(taskId: string): Promise<StopReply & { nextAttempt: number }> {
    return this.#stops.restart(taskId);
  }

  /**
   * Freezes a running task where it is, on the agent that runs it (its Supervisor's pause: cgroup
   * freeze, else SIGSTOP to the group). NOT_PAUSABLE for a task that is not running; a paused one
   * stays paused. Cancel and kill work on a paused task at once.
   */
  pause(taskId: string): Promise<StopReply> {
    return this.#pauses.request(taskId, false);
  }

  /** Lets a paused task run on (NOT_PAUSABLE for a task that is not paused; a running one runs on). */
  resume(taskId: string): Promise<StopReply> {
    return this.#pauses.request(taskId, true);
  }

  /**
   * The emergency stop: the queue stops handing out jobs, every queued task is cancelled without
   * starting, every running one is cancelled (SIGKILL after its grace) on its agent. Resolves when
   * every live agent has reported its processes gone; then the queue hands out jobs again.
   */
  stopAll(options: { timeoutMs?: number } = {}): Promise<ClusterStopAllResult> {
    const parts = { url: this.url, redis: this.#redis, keys: this.#keys, queue: this.#queue };
    return new EmergencyStop({ ...parts, view: this.#view, stops: this.#stops }, options.timeoutMs).run();
  }

  // ---- watching -----------------------------------------------------------------------------

  /**
   * Task events of every agent from now on, as 'event' (TASK_STATUS, TASK_PROGRESS, TASK_LOG,
   * TASK_COMPLETE, with `host` on the tasks). Resolves with the active tasks once subscribed.
   */
  async subscribe(): Promise<ClusterTaskSnapshot[]> {
    if (!this.#subscriber) {
      const subscriber = new Redis(redisOptions(this.url, 'taskwarden-client-events'));
      subscriber.on('error', () => {});
      subscriber.on('message', (_channel, text) => {
        try {
          this.emit('event', decodeEvent(text) as unknown as DaemonEvent);
        } catch {
          // an event this client cannot read is skipped
        }
      });
      // ioredis subscribes again by itself after a reconnect; watchers hear that they missed events.
      let downSince: number | undefined;
      subscriber.on('close', () => (downSince ??= Date.now()));
      subscriber.on('ready', () => {
        if (downSince === undefined || this.#closed) return;
        const since = downSince;
        downSince = undefined;
        this.emit('resubscribed', since);
      });
      this.#subscriber = subscriber;
      await subscriber.subscribe(this.#keys.events);
    }
    return this.list();
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscriber?.disconnect();
    this.#redis.disconnect();
    void this.#queue.close().catch(() => {});
    this.emit('close', undefined);
  }
}
