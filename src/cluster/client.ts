/**
 * ClusterClient: submit tasks to a taskwarden cluster, watch them, and stop them, on whichever agent
 * they run. Tasks go into the BullMQ queue as jobs; each keeps one task id across the cluster (its
 * record, records.ts); stops are a durable record plus a publish on the control channel (control.ts),
 * so the agent that holds the job acts at once, or when it takes the job, or when it reconnects.
 */
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { DaemonEvent } from '../protocol/index.js';
import { encodeValue } from '../protocol/index.js';
import { validateSpec } from '../supervisor/options.js';
import { type StopAllResult, type TaskSpec } from '../supervisor/types.js';
import { isFinishedState, type RecordedOutcome, type RecordedState } from '../journal/recorded-state.js';
import { displayUrl, redisOptions } from './connection.js';
import {
  parseControl,
  AgentInfoSchema,
  AgentStopReportSchema,
  type AgentInfo,
  type AgentStopReport,
  type ControlMessage,
} from './control.js';
import { BULL_PREFIX, ClusterKeys, DEFAULT_QUEUE, STOP_RECORD_TTL_S } from './keys.js';
import { decodeEvent, encodeEvent, newRecordFields, snapshotFromHash, type ClusterTaskSnapshot } from './records.js';
import { flatFields, withScripts, type ClusterScripts, type ScriptedRedis, type StopKind } from './scripts.js';

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

/** What a stop request found and left: the task now, and its state before the request. */
export interface StopReply {
  task: ClusterTaskSnapshot;
  previous: RecordedState;
}

export interface ClusterStopAllResult extends StopAllResult {
  finished: number;
  /** Each agent's report: what it stopped and how long that took. */
  agents: Record<string, AgentStopReport>;
  /** Live agents that did not report before the deadline. */
  missing: string[];
}

export class ClusterError extends Error {
  constructor(
    readonly code: 'UNKNOWN_TASK' | 'REDIS_UNREACHABLE' | 'BAD_SPEC' | 'NOT_PAUSABLE' | 'PAUSE_FAILED' | 'NO_ANSWER',
    message: string,
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}

/** How many tasks `list` reads at most (the newest). */
const LIST_LIMIT = 500;
/** Longest an emergency stop waits for the agents' reports. */
const STOP_ALL_TIMEOUT_MS = 120_000;
/** How long a pause or resume waits for the agent holding the task to answer. */
const PAUSE_ANSWER_MS = 5000;
/** BullMQ keeps this many output lines per job. */
const KEEP_LOG_LINES = 1000;

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
  }

  // ---- submitting ---------------------------------------------------------------------------

  /** Queues a task; any agent of the queue takes it. Returns its record (state queued). */
  async submit(spec: TaskSpec, options: SubmitOptions = {}): Promise<ClusterTaskSnapshot> {
    let owned: TaskSpec;
    try {
      owned = validateSpec(spec);
    } catch (error) {
      throw new ClusterError('BAD_SPEC', (error as Error).message);
    }
    const id = String(await this.#redis.incr(this.#keys.seq));
    const jobId = `t${id}`;
    const createdAt = Date.now();
    const kind = 'module' in owned && owned.module !== undefined ? 'module' : 'command';
    const name = owned.name ?? defaultName(owned);
    const fields = newRecordFields({ id, name, kind, spec: owned, createdAt, jobId });
    const task = snapshotFromHash(fields)!;
    // The record first: an agent that takes the job finds it.
    await this.#redis
      .multi()
      .hset(this.#keys.task(id), fields)
      .zadd(this.#keys.tasks, createdAt, id)
      .publish(this.#keys.events, encodeEvent({ type: 'TASK_STATUS', task }))
      .exec();
    await this.#addJob(id, jobId, name, owned, createdAt, options.attempts ?? 1);
    return task;
  }

  async #addJob(
    taskId: string,
    jobId: string,
    name: string,
    spec: TaskSpec,
    createdAt: number,
    attempts: number,
  ): Promise<void> {
    await this.#queue.add(
      name,
      { taskId, spec: encodeValue(spec), createdAt },
      {
        jobId,
        attempts,
        keepLogs: KEEP_LOG_LINES,
        removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      },
    );
  }

  // ---- reading ------------------------------------------------------------------------------

  async get(taskId: string): Promise<ClusterTaskSnapshot> {
    const task = snapshotFromHash(await this.#redis.hgetall(this.#keys.task(taskId)));
    if (!task) throw this.#unknown(taskId);
    return (await this.#reconcile([task]))[0]!;
  }

  /** Active tasks, oldest first; with includeFinished, the newest 500 of all. */
  async list(options: { includeFinished?: boolean } = {}): Promise<ClusterTaskSnapshot[]> {
    // Active ones: every task not in the history (ZDIFF keeps the creation order).
    const ids = options.includeFinished
      ? await this.#redis.zrange(this.#keys.tasks, String(-LIST_LIMIT), '-1')
      : ((await this.#redis.call('ZDIFF', '2', this.#keys.tasks, this.#keys.ended)) as string[]);
    const tasks = await this.#read(ids);
    const shown = options.includeFinished ? tasks : tasks.filter((task) => !isFinishedState(task.state));
    return this.#reconcile(shown);
  }

  /** Finished tasks, most recently ended first. */
  async history(limit = 50): Promise<ClusterTaskSnapshot[]> {
    return this.#read(await this.#redis.zrevrange(this.#keys.ended, '0', String(limit - 1)));
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

  async #read(ids: string[]): Promise<ClusterTaskSnapshot[]> {
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

  // ---- stopping -----------------------------------------------------------------------------

  /** Graceful: abort signal, cleanup, SIGTERM to the group, SIGKILL after the grace period; wherever it runs. */
  cancel(taskId: string): Promise<StopReply> {
    return this.#stop(taskId, 'cancel');
  }

  /** SIGKILL to the task's whole process group now, wherever it runs. */
  kill(taskId: string): Promise<StopReply> {
    return this.#stop(taskId, 'kill');
  }

  /**
   * Kill the current attempt (if any) and run the task again, on any agent: same id, next attempt.
   * A finished task is queued again.
   */
  async restart(taskId: string): Promise<StopReply & { nextAttempt: number }> {
    const before = await this.get(taskId);
    const nextAttempt = before.state === 'queued' ? before.attempt : before.attempt + 1;
    if (!isFinishedState(before.state)) return { ...(await this.#stop(taskId, 'restart')), nextAttempt };
    const jobId = await this.#redis.twRequeueFinished(this.#keys.task(taskId), this.#keys.ended, taskId);
    if (jobId) {
      const task = await this.get(taskId);
      await this.#redis.publish(this.#keys.events, encodeEvent({ type: 'TASK_STATUS', task, previous: before.state }));
      await this.#addJob(taskId, jobId, task.name, task.spec, task.createdAt, 1);
    }
    return { task: await this.get(taskId), previous: before.state, nextAttempt };
  }

  async #stop(taskId: string, kind: StopKind): Promise<StopReply> {
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
    if (!previous) throw this.#unknown(taskId);
    // Still in the queue: take it out, so it never starts (BullMQ refuses while an agent holds it).
    if (previous === 'queued' && kind !== 'restart')
      await this.#endQueued(taskId, jobId, kind === 'kill' ? 'killed' : 'cancelled', kind);
    return { task: await this.get(taskId), previous: previous as RecordedState };
  }

  async #endQueued(
    taskId: string,
    jobId: string,
    state: 'cancelled' | 'killed',
    reason: 'cancel' | 'kill' | 'stop-all',
  ): Promise<boolean> {
    if ((await this.#queue.remove(jobId)) !== 1) return false;
    const now = Date.now();
    const message = `task ${taskId} was ${state} before it started`;
    const outcome: RecordedOutcome = {
      state,
      stopReason: reason,
      durationMs: 0,
      attempt: 1,
      error: { name: 'NotStarted', message, code: 'NOT_STARTED' },
    };
    const fields = { state, endedAt: String(now), stopReason: reason, outcome: JSON.stringify(encodeValue(outcome)) };
    const task = snapshotFromHash({ ...(await this.#redis.hgetall(this.#keys.task(taskId))), ...fields });
    const event = task ? encodeEvent({ type: 'TASK_COMPLETE', task }) : '';
    return (
      (await this.#redis.twFinishQueued(
        this.#keys.task(taskId),
        this.#keys.ended,
        this.#keys.stop(jobId),
        this.#keys.events,
        event,
        taskId,
        now,
        ...flatFields(fields),
      )) === 1
    );
  }

  // ---- pausing ------------------------------------------------------------------------------

  /**
   * Freezes a running task where it is, on the agent that runs it (its Supervisor's pause: cgroup
   * freeze, else SIGSTOP to the group). NOT_PAUSABLE for a task that is not running; a paused one
   * stays paused. Cancel and kill work on a paused task at once.
   */
  pause(taskId: string): Promise<StopReply> {
    return this.#pause(taskId, false);
  }

  /** Lets a paused task run on (NOT_PAUSABLE for a task that is not paused; a running one runs on). */
  resume(taskId: string): Promise<StopReply> {
    return this.#pause(taskId, true);
  }

  async #pause(taskId: string, resume: boolean): Promise<StopReply> {
    const before = await this.get(taskId);
    const done = resume ? 'running' : 'paused';
    if (before.state === done) return { task: before, previous: before.state };
    if ((before.state !== 'running' && before.state !== 'paused') || !before.jobId) throw notPausable(before, resume);
    const requestId = randomUUID();
    const answer = await this.#ask(
      { type: 'pause', requestId, taskId, jobId: before.jobId, resume },
      (message) => message.type === 'pause-done' && message.requestId === requestId,
      PAUSE_ANSWER_MS,
    );
    if (answer?.type !== 'pause-done') {
      const now = await this.get(taskId);
      if (now.state !== 'running' && now.state !== 'paused') throw notPausable(now, resume);
      throw new ClusterError(
        'NO_ANSWER',
        `task ${taskId}: agent ${now.host ?? '?'} did not answer the ${resume ? 'resume' : 'pause'} within ${PAUSE_ANSWER_MS} ms (is it up? "taskwarden ls --cluster ${displayUrl(this.url)}" shows what it runs); nothing was changed here`,
      );
    }
    if (answer.error)
      throw new ClusterError(
        answer.error.code === 'NOT_PAUSABLE' ? 'NOT_PAUSABLE' : 'PAUSE_FAILED',
        answer.error.message,
      );
    return { task: await this.get(taskId), previous: before.state };
  }

  /** Publishes `message` to the agents and waits for the first answer `accept` takes; undefined after `timeoutMs`. */
  async #ask(
    message: ControlMessage,
    accept: (answer: ControlMessage) => boolean,
    timeoutMs: number,
  ): Promise<ControlMessage | undefined> {
    const listener = new Redis(redisOptions(this.url, 'taskwarden-client-ask'));
    listener.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    try {
      const answered = new Promise<ControlMessage | undefined>((resolve) => {
        listener.on('message', (_channel, text) => {
          const answer = parseControl(text);
          if (answer && accept(answer)) resolve(answer);
        });
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      });
      await listener.subscribe(this.#keys.control);
      await this.#redis.publish(this.#keys.control, JSON.stringify(message));
      return await answered;
    } finally {
      clearTimeout(timer);
      listener.disconnect();
    }
  }

  /**
   * The emergency stop: the queue stops handing out jobs, every queued task is cancelled without
   * starting, every running one is cancelled (SIGKILL after its grace) on its agent. Resolves when
   * every live agent has reported its processes gone; then the queue hands out jobs again.
   */
  async stopAll(options: { timeoutMs?: number } = {}): Promise<ClusterStopAllResult> {
    const startedAt = performance.now();
    const stopId = randomUUID();
    const k = this.#keys;
    const reports: Record<string, AgentStopReport> = {};
    const listener = new Redis(redisOptions(this.url, 'taskwarden-client-stop-all'));
    listener.on('error', () => {});
    let wake = () => {};
    listener.on('message', (_channel, text) => {
      const message = parseControl(text);
      if (message?.type === 'stop-all-done' && message.stopId === stopId) {
        reports[message.agent] = message.report;
        wake();
      }
    });
    try {
      await listener.subscribe(k.control);
      await this.#queue.pause();
      const [agents, active] = await Promise.all([
        this.agents(),
        this.#read((await this.#redis.call('ZDIFF', '2', k.tasks, k.ended)) as string[]),
      ]);
      // One round trip, in this order: a stop record for every unfinished job (an agent that misses the
      // publish, or takes a job later, finds it), the current stop for agents that reconnect, the publish.
      const pipeline = this.#redis.pipeline() as unknown as ClusterScripts & {
        set: Redis['set'];
        publish: Redis['publish'];
        exec(): Promise<unknown>;
      };
      const at = Date.now();
      for (const task of active)
        void pipeline.twRequestStop(
          k.task(task.id),
          'cancel',
          at,
          STOP_RECORD_TTL_S,
          k.control,
          '',
          k.stopPrefix,
          task.id,
        );
      void pipeline.set(`${k.base}:stop-all:current`, stopId, 'PX', options.timeoutMs ?? STOP_ALL_TIMEOUT_MS);
      void pipeline.publish(k.control, JSON.stringify({ type: 'stop-all', stopId, at }));
      await pipeline.exec();
      // Queued jobs come out of the queue, so they never start.
      const queued = active.filter((task) => task.state === 'queued' && task.jobId);
      const ended = await Promise.all(
        queued.map((task) => this.#endQueued(task.id, task.jobId!, 'cancelled', 'stop-all')),
      );
      const notStarted = ended.filter(Boolean).length;
      const missing = await this.#waitForReports(
        stopId,
        agents.map((agent) => agent.name),
        reports,
        options.timeoutMs ?? STOP_ALL_TIMEOUT_MS,
        (fn) => (wake = fn),
      );
      const all = Object.values(reports);
      const sum = (key: keyof AgentStopReport) => all.reduce((total, report) => total + report[key], 0);
      return {
        cancelled: sum('cancelled'),
        killed: sum('killed'),
        finished: sum('finished'),
        notStarted,
        ms: performance.now() - startedAt,
        agents: reports,
        missing,
      };
    } finally {
      await this.#redis.del(`${k.base}:stop-all:current`).catch(() => {});
      await this.#queue.resume().catch(() => {});
      listener.disconnect();
    }
  }

  /** Until every agent reported, died (its entry expired), or the deadline passed; returns the ones missing. */
  async #waitForReports(
    stopId: string,
    agents: string[],
    reports: Record<string, AgentStopReport>,
    timeoutMs: number,
    onWake: (wake: () => void) => void,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Reports published before we listened, or lost: the hash has them all.
      const stored = await this.#redis.hgetall(this.#keys.stopAllReports(stopId));
      for (const [agent, text] of Object.entries(stored)) {
        const parsed = AgentStopReportSchema.safeParse(JSON.parse(text));
        if (parsed.success) reports[agent] ??= parsed.data;
      }
      const alive = new Set((await this.agents()).map((agent) => agent.name));
      const waiting = agents.filter((agent) => !reports[agent] && alive.has(agent));
      if (waiting.length === 0 || Date.now() >= deadline) return waiting;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        onWake(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
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

  #unknown(taskId: string): ClusterError {
    return new ClusterError(
      'UNKNOWN_TASK',
      `no task ${taskId} in cluster queue ${this.queueName}: "taskwarden ls --all --cluster ${displayUrl(this.url)}" lists the known tasks`,
    );
  }
}

/** The Supervisor's words for a task that cannot be paused or resumed in its state. */
function notPausable(task: ClusterTaskSnapshot, resume: boolean): ClusterError {
  return new ClusterError(
    'NOT_PAUSABLE',
    resume
      ? `task ${task.id} is ${task.state}, not paused: nothing to resume`
      : `task ${task.id} is ${task.state}: only a running task can be paused`,
  );
}

function defaultName(spec: TaskSpec): string {
  return 'module' in spec && spec.module !== undefined
    ? basename(spec.module).replace(/\.[cm]?[jt]s$/, '')
    : basename((spec as { command: string }).command);
}
