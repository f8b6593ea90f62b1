/**
 * A taskwarden agent: one per machine. It takes jobs from a BullMQ queue (a plain Worker, not
 * sandboxed processors) and runs each as a task of its local Supervisor, so every stop semantics
 * of one machine holds on each: a process group per task, grace then SIGKILL to the group, the
 * orphan guard, the local journal.
 *
 * What it adds for a cluster:
 * - stops from anywhere: a client writes a durable stop record and publishes on the control
 *   channel; the agent holding the job acts at once, and reads the records when it takes a job and
 *   after every reconnect (pub/sub is at-most-once);
 * - never two attempts at once: the agent renews its jobs' locks itself and kills a task whose lock
 *   it cannot renew before the lock can expire (lease.ts); its writes are fenced by the lock token
 *   (scripts.ts), as BullMQ fences the job's outcome; a dead agent's tasks die with it (the orphan
 *   guard), and BullMQ's stalled checker hands the job to another agent once the lock expires;
 * - the cluster view: each attempt's state, progress and outcome in the task's record, events for
 *   watchers, progress through job.updateProgress and output through job.log (capped).
 */
import { randomUUID, createHash } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { UnrecoverableError, WaitingError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { z } from 'zod';
import { recover } from '../daemon/recovery.js';
import { DaemonRunningError, acquireLock, type DaemonLock } from '../daemon/lock.js';
import { ensurePrivateDir } from '../daemon/safe-fs.js';
import { Journal, LogStore } from '../journal/index.js';
import { LineageMark } from '../process/lineage.js';
import { decodeValue, encodeValue } from '../protocol/index.js';
import { TaskSpecSchema } from '../protocol/schemas.js';
import type { SupervisorOptions } from '../supervisor/options.js';
import { Supervisor } from '../supervisor/supervisor.js';
import type { Task } from '../supervisor/task.js';
import {
  isTerminalState,
  type LogLine,
  type Progress,
  type SupervisorEvent,
  type TaskOutcome,
  type TaskSnapshot,
} from '../supervisor/types.js';
import { displayUrl, redisOptions } from './connection.js';
import { parseControl, type AgentInfo, type AgentStopReport, type PauseDoneMessage } from './control.js';
import { BULL_PREFIX, ClusterKeys, DEFAULT_QUEUE } from './keys.js';
import { Leases } from './lease.js';
import { encodeEvent, snapshotFields, snapshotFromHash, type ClusterTaskSnapshot } from './records.js';
import { flatFields, withScripts, type ScriptedRedis, type StopKind } from './scripts.js';

export interface AgentOptions {
  /** The cluster's Redis (connection.ts). */
  redis: string;
  queue?: string;
  /** Shown in the HOST column; default the machine's hostname. */
  name?: string;
  /** Jobs at once; default the CPU count. */
  concurrency?: number;
  /** The agent's state directory (journal, logs, lock). */
  home: string;
  /** BullMQ lock duration. Default 10 000 ms: a dead agent's job runs elsewhere about this long after. */
  lockDurationMs?: number;
  /** How often BullMQ looks for jobs whose lock expired. Default 1000 ms. */
  stalledIntervalMs?: number;
  /** How many times a job may lose its agent before it fails. Default 3. */
  maxStalledCount?: number;
  supervisor?: SupervisorOptions;
  log?: (line: string) => void;
}

/** The data of a taskwarden job in the queue. */
export const JobDataSchema = z.object({ taskId: z.string(), spec: z.unknown(), createdAt: z.number() });

/** Output lines sent to Redis per task per flush (100 ms); the rest stay in the agent's own log files. */
const MAX_LOG_LINES_PER_FLUSH = 200;
const FLUSH_MS = 100;
const PROGRESS_EVERY_MS = 250;
const HEARTBEAT_MS = 1000;
const AGENT_TTL_MS = 5000;

/** Why a held job is being stopped: a client's stop, an emergency stop, or this agent shutting down. */
type StopCause = StopKind | 'stop-all' | 'shutdown';
const STOP_RANK: Record<StopCause, number> = { shutdown: 0, restart: 1, 'stop-all': 2, cancel: 2, kill: 3 };

interface Held {
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

export class Agent {
  readonly name: string;
  readonly queue: string;
  readonly home: string;
  readonly instance = randomUUID();
  readonly #options: AgentOptions;
  readonly #keys: ClusterKeys;
  readonly #redis: ScriptedRedis;
  readonly #subscriber: Redis;
  readonly #sup: Supervisor;
  readonly #journal: Journal;
  readonly #logs: LogStore;
  readonly #lock: DaemonLock;
  readonly #leases: Leases;
  readonly #held = new Map<string, Held>();
  readonly #byTask = new Map<string, Held>();
  readonly #stopAllsSeen = new Set<string>();
  readonly #log: (line: string) => void;
  readonly #lockDurationMs: number;
  readonly #startedAt = Date.now();
  #worker!: Worker;
  #flushTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #subscribedOnce = false;

  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    try {
      await agent.#begin();
    } catch (error) {
      await agent.close().catch(() => {});
      throw error;
    }
    return agent;
  }

  private constructor(options: AgentOptions) {
    this.#options = options;
    this.queue = options.queue ?? DEFAULT_QUEUE;
    this.#keys = new ClusterKeys(this.queue);
    this.name = options.name ?? os.hostname();
    this.home = options.home;
    this.#log =
      options.log ?? ((line) => process.stderr.write(`${new Date().toISOString()} agent ${this.name}: ${line}\n`));
    this.#lockDurationMs = options.lockDurationMs ?? 10_000;
    ensurePrivateDir(this.home, 'agent state directory');
    try {
      this.#lock = acquireLock(this.home);
    } catch (error) {
      if (error instanceof DaemonRunningError) {
        throw new Error(
          `another taskwarden process (pid ${error.pid}) already uses ${this.home}: give each agent its own state directory (--home)`,
          { cause: error },
        );
      }
      throw error;
    }
    this.#journal = Journal.open(this.home);
    this.#logs = new LogStore(this.home);
    const lineageToken = createHash('sha256').update(this.home).digest('hex').slice(0, 16);
    this.#sup = new Supervisor({ concurrency: options.concurrency, ...options.supervisor, lineageToken });
    // Before anything runs (as the daemon does): whatever a previous agent of this state directory
    // left running dies: its groups, its marked processes, its task cgroups.
    const layout = this.#sup.containment.layout;
    const report = recover({
      journal: this.#journal,
      start: () => {
        throw new Error('an agent never re-runs a job by itself: the queue hands it out again');
      },
      log: (line) => this.#log(line),
      mark: new LineageMark(lineageToken),
      ...(layout ? { cgroups: { layout, token: lineageToken } } : {}),
    });
    if (report.killedGroups.length + report.killedMarked.length + report.killedCgroups.length > 0) {
      this.#log(
        `killed what a previous agent left running: groups ${report.killedGroups.join(', ') || '-'}, marked processes ${report.killedMarked.join(', ') || '-'}, task cgroups ${report.killedCgroups.length}`,
      );
    }
    this.#sup.on('event', (event) => this.#onSupervisorEvent(event));
    this.#redis = withScripts(new Redis(redisOptions(options.redis, `taskwarden-agent:${this.name}`)));
    this.#subscriber = new Redis(redisOptions(options.redis, `taskwarden-agent-control:${this.name}`));
    for (const connection of [this.#redis, this.#subscriber]) connection.on('error', () => {}); // reconnects by itself; said once below
    this.#leases = new Leases({
      lockDurationMs: this.#lockDurationMs,
      extend: (jobIds, tokens) => this.#worker.extendJobLocks(jobIds, tokens, this.#lockDurationMs),
      onLost: (jobId, why) => this.#onLeaseLost(jobId, why),
      onError: () => {}, // a renewal that fails by connection is covered by the lease's guard
    });
  }

  /** Jobs this agent holds now. */
  get running(): number {
    return this.#held.size;
  }

  /** Pid of the local orphan guard (tests). */
  get guardPid(): number | undefined {
    return this.#sup.guardPid;
  }

  async #begin(): Promise<void> {
    this.#subscriber.on('message', (_channel, message) => this.#onControl(message));
    this.#subscriber.on('ready', () => void this.#onSubscriberReady());
    this.#subscriber.on('end', () => {});
    // An agent is a service: it waits for Redis, and says so once.
    const waiting = setTimeout(
      () => this.#log(`cannot reach Redis at ${displayUrl(this.#options.redis)} yet; still trying`),
      5000,
    );
    await this.#subscriber.subscribe(this.#keys.control).finally(() => clearTimeout(waiting));
    this.#subscribedOnce = true;
    await this.#checkCurrentStopAll();
    const concurrency = this.#options.concurrency ?? os.availableParallelism();
    this.#worker = new Worker(this.queue, (job, token) => this.#process(job, token), {
      connection: redisOptions(this.#options.redis, `taskwarden-worker:${this.name}`) as ConnectionOptions,
      prefix: BULL_PREFIX,
      concurrency,
      name: this.name,
      lockDuration: this.#lockDurationMs,
      stalledInterval: this.#options.stalledIntervalMs ?? 1000,
      maxStalledCount: this.#options.maxStalledCount ?? 3,
      // The agent renews the locks itself, so that it knows when each renewal was sent (lease.ts).
      skipLockRenewal: true,
      // A result that could not be written while Redis was away is retried this soon.
      runRetryDelay: 500,
      drainDelay: 5,
      autorun: true,
    });
    let lastError = '';
    this.#worker.on('error', (error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      this.#log(`queue: ${error.message}`);
    });
    await this.#worker.waitUntilReady();
    this.#leases.start();
    await this.#heartbeat();
    this.#heartbeatTimer = setInterval(() => void this.#heartbeat().catch(() => {}), HEARTBEAT_MS);
    this.#flushTimer = setInterval(() => this.#flushAll(), FLUSH_MS);
    this.#log(
      `ready: queue ${this.queue} on ${displayUrl(this.#options.redis)}, ${concurrency} at once, lock ${this.#lockDurationMs} ms, journal ${this.home}`,
    );
  }

  /**
   * Stops taking jobs; the tasks it runs are stopped (cancel with the grace period) and their jobs
   * go back to the queue for another agent; then everything is released. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#heartbeatTimer);
    const closingWorker = this.#worker?.close().catch(() => {});
    for (const held of this.#held.values()) this.#applyStop(held, 'shutdown');
    await Promise.all([...this.#held.values()].map((held) => held.gone));
    await closingWorker;
    this.#leases.stop();
    clearInterval(this.#flushTimer);
    await this.#redis.del(this.#keys.agent(this.name)).catch(() => {});
    await this.#sup.shutdown();
    this.#subscriber.disconnect();
    this.#redis.disconnect();
    this.#logs.close();
    this.#journal.close();
    this.#lock.release();
  }

  // ---- a job ------------------------------------------------------------------------------

  async #process(job: Job, token: string | undefined): Promise<unknown> {
    const parsed = JobDataSchema.safeParse(job.data);
    if (!parsed.success || token === undefined)
      throw new UnrecoverableError(
        `job ${job.id} is not a taskwarden task (its data has no taskId, spec and createdAt)`,
      );
    const { taskId, createdAt } = parsed.data;
    let spec;
    try {
      spec = TaskSpecSchema.parse(decodeValue(parsed.data.spec, 'spec'));
    } catch (error) {
      throw new UnrecoverableError(
        `task ${taskId}: its spec in job ${job.id} is not valid: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const jobId = job.id!;
    const held = newHeld(taskId, job, token);
    this.#held.set(jobId, held);
    this.#byTask.set(taskId, held);
    this.#leases.add(jobId, token, job.processedOn);
    try {
      // Never two attempts of a task at once here either: one still stopping is waited for.
      const previous = this.#sup.get(taskId);
      if (previous && !isTerminalState(previous.state)) await previous.done;
      if (held.lost) throw this.#lostError(held);
      const sentAt = performance.now();
      const k = this.#keys;
      const [code, value] = await this.#redis.twBegin(
        k.lock(jobId),
        k.stalled,
        k.task(taskId),
        k.stop(jobId),
        k.ended,
        token,
        this.#lockDurationMs,
        jobId,
        this.name,
        Date.now(),
        taskId,
      );
      if (code === -1) {
        held.lost ??= 'its lock was gone before it started';
        throw this.#lostError(held);
      }
      this.#leases.confirmed(jobId, sentAt);
      const stopped =
        code === 0
          ? (value as StopKind)
          : held.stop !== undefined && held.stop !== 'restart' && held.stop !== 'shutdown'
            ? held.stop
            : undefined;
      if (stopped) {
        const state = stopped === 'kill' ? 'killed' : 'cancelled';
        const message = `task ${taskId} was ${state} before it started`;
        const reason = stopped === 'stop-all' ? 'stop-all' : stopped === 'kill' ? 'kill' : 'cancel';
        return await this.#endUnstarted(held, {
          state,
          stopReason: reason,
          durationMs: 0,
          attempt: 1,
          error: { name: 'NotStarted', message, code: 'NOT_STARTED' },
        });
      }
      if (held.stop === 'shutdown') return await this.#requeue(held, undefined, 'shutdown');
      if (previous) this.#sup.clearFinished();
      let task: Task;
      try {
        task = this.#sup.start(spec, { id: taskId, attempt: Number(value), createdAt });
      } catch (error) {
        const message = `agent ${this.name} could not start task ${taskId}: ${error instanceof Error ? error.message : String(error)}`;
        return await this.#endUnstarted(held, {
          state: 'failed',
          durationMs: 0,
          attempt: Number(value),
          error: { name: 'StartError', message, code: 'START_FAILED' },
        });
      }
      held.task = task; // journaled by the supervisor's 'created' event
      if (held.stop) this.#applyStop(held, held.stop);
      const outcome = await task.done;
      held.markGone(outcome);
      await this.#flush(held);
      if (held.lost) throw this.#lostError(held);
      // (read again: a stop may have come while the task ran)
      const stop = held.stop as StopCause | undefined;
      if ((stop === 'restart' || stop === 'shutdown') && outcome.state !== 'completed')
        return await this.#requeue(held, task.snapshot(), stop);
      return await this.#finish(held, task.snapshot(), outcome);
    } finally {
      held.markGone(undefined);
      held.markSettled();
      this.#leases.remove(jobId);
      this.#held.delete(jobId);
      if (this.#byTask.get(taskId) === held) this.#byTask.delete(taskId);
    }
  }

  /** The attempt's outcome into the record (fenced), then to BullMQ (fenced by BullMQ itself). */
  async #finish(held: Held, snapshot: TaskSnapshot, outcome: TaskOutcome): Promise<unknown> {
    const k = this.#keys;
    const jobId = held.job.id!;
    const task = this.#clusterSnapshot(held, snapshot);
    const written = await this.#redis.twFinish(
      k.lock(jobId),
      k.task(held.taskId),
      k.ended,
      k.stop(jobId),
      held.token,
      k.events,
      encodeEvent({ type: 'TASK_COMPLETE', task }),
      held.taskId,
      snapshot.endedAt ?? Date.now(),
      ...flatFields(snapshotFields(snapshot, this.name)),
    );
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
  async #endUnstarted(held: Held, outcome: TaskOutcome): Promise<never> {
    const now = Date.now();
    const fields = {
      state: outcome.state,
      endedAt: String(now),
      outcome: JSON.stringify(encodeValue(outcome)),
      ...(outcome.stopReason ? { stopReason: outcome.stopReason } : {}),
    };
    const k = this.#keys;
    const jobId = held.job.id!;
    // The record keeps what the client wrote (name, spec); only the end is added.
    const task = snapshotFromHash({ ...(await this.#redis.hgetall(k.task(held.taskId))), ...fields });
    await this.#redis.twFinish(
      k.lock(jobId),
      k.task(held.taskId),
      k.ended,
      k.stop(jobId),
      held.token,
      k.events,
      task ? encodeEvent({ type: 'TASK_COMPLETE', task }) : '',
      held.taskId,
      now,
      ...flatFields(fields),
    );
    throw new UnrecoverableError(outcome.error!.message);
  }

  /** Restart or shutdown: the job goes back to the queue for its next attempt, anywhere. */
  async #requeue(held: Held, snapshot: TaskSnapshot | undefined, why: 'restart' | 'shutdown'): Promise<never> {
    const k = this.#keys;
    const jobId = held.job.id!;
    const task = snapshot
      ? {
          ...this.#clusterSnapshot(held, snapshot),
          state: 'queued',
          attempt: snapshot.attempt + 1,
          pid: undefined,
          outcome: undefined,
          endedAt: undefined,
          startedAt: undefined,
          stopReason: why === 'restart' ? 'restart' : undefined,
        }
      : undefined;
    await this.#redis.twUpdate(
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

  #lostError(held: Held): Error {
    return new Error(
      `task ${held.taskId}: agent ${this.name} lost job ${held.job.id} (${held.lost}); the queue hands it out again`,
    );
  }

  #onLeaseLost(jobId: string, why: string): void {
    const held = this.#held.get(jobId);
    if (!held) return;
    held.lost = why;
    this.#log(`task ${held.taskId} (job ${jobId}): ${why}`);
    if (held.task) this.#sup.kill(held.taskId);
  }

  // ---- stops ------------------------------------------------------------------------------

  #onControl(text: string): void {
    const message = parseControl(text);
    if (!message) return;
    if (message.type === 'stop') {
      const held = this.#held.get(message.jobId);
      if (held) this.#applyStop(held, message.kind);
    } else if (message.type === 'stop-all') {
      void this.#stopAll(message.stopId);
    } else if (message.type === 'pause') {
      const held = this.#held.get(message.jobId);
      if (held) void this.#pause(held, message.requestId, message.resume).catch(() => {});
    }
  }

  /**
   * A client's pause or resume of a job held here: the Supervisor's own (NOT_PAUSABLE for a task
   * that is not running, or not paused), then the answer. The answer goes out on the connection that
   * wrote the paused state to the record, after it: the client that reads the record then sees it.
   */
  async #pause(held: Held, requestId: string, resume: boolean): Promise<void> {
    let error: PauseDoneMessage['error'];
    try {
      if (!held.task) {
        error = {
          code: 'NOT_PAUSABLE',
          message: `task ${held.taskId} is starting on agent ${this.name}: only a running task can be paused`,
        };
      } else if (resume) this.#sup.resume(held.taskId);
      else this.#sup.pause(held.taskId);
    } catch (caught) {
      const code = (caught as { code?: unknown }).code;
      error = {
        code: typeof code === 'string' ? code : 'PAUSE_FAILED',
        message: `agent ${this.name}: ${caught instanceof Error ? caught.message : String(caught)}`,
      };
    }
    const answer: PauseDoneMessage = { type: 'pause-done', requestId, agent: this.name, ...(error ? { error } : {}) };
    await this.#redis.publish(this.#keys.control, JSON.stringify(answer));
  }

  /** A stronger stop replaces a weaker one (a weaker one is ignored); a running task is signalled at once. */
  #applyStop(held: Held, cause: StopCause): void {
    if (held.stop !== undefined && STOP_RANK[cause] < STOP_RANK[held.stop]) return;
    if (held.stop === undefined || STOP_RANK[cause] > STOP_RANK[held.stop]) held.stop = cause;
    const task = held.task;
    if (!task || isTerminalState(task.state) || held.applied === held.stop) return;
    held.applied = held.stop;
    if (held.stop === 'kill' || held.stop === 'restart') this.#sup.kill(held.taskId);
    else this.#sup.cancel(held.taskId);
  }

  /** The emergency stop, this agent's part: stop every task it holds, then say so. */
  async #stopAll(stopId: string): Promise<void> {
    if (this.#stopAllsSeen.has(stopId)) return;
    this.#stopAllsSeen.add(stopId);
    const startedAt = performance.now();
    const held = [...this.#held.values()];
    for (const each of held) this.#applyStop(each, 'stop-all');
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
    const k = this.#keys;
    await this.#redis
      .multi()
      .hset(k.stopAllReports(stopId), this.name, JSON.stringify(report))
      .expire(k.stopAllReports(stopId), 3600)
      .publish(k.control, JSON.stringify({ type: 'stop-all-done', stopId, agent: this.name, report }))
      .exec();
  }

  /** After a reconnect: stops published while we were away are in the records. */
  async #onSubscriberReady(): Promise<void> {
    if (!this.#subscribedOnce) return;
    try {
      await this.#subscriber.subscribe(this.#keys.control);
      await this.#checkStopRecords();
      await this.#checkCurrentStopAll();
    } catch (error) {
      this.#log(`after reconnecting: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async #checkStopRecords(): Promise<void> {
    const held = [...this.#held.entries()];
    if (held.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const [jobId] of held) pipeline.hget(this.#keys.stop(jobId), 'kind');
    const replies = (await pipeline.exec()) ?? [];
    held.forEach(([, each], i) => {
      const kind = replies[i]?.[1];
      if (typeof kind === 'string') this.#applyStop(each, kind as StopKind);
    });
  }

  async #checkCurrentStopAll(): Promise<void> {
    const current = await this.#redis.get(`${this.#keys.base}:stop-all:current`);
    if (current) void this.#stopAll(current);
  }

  // ---- events: journal, record, watchers ---------------------------------------------------------

  #onSupervisorEvent(event: SupervisorEvent): void {
    try {
      switch (event.type) {
        case 'created':
          return this.#journalWrite(() => this.#journal.recordTask(event.task));
        case 'state':
          return this.#onState(event);
        case 'spawned': {
          const { taskId, attempt, pid, startTime, at } = event;
          return this.#journalWrite(() => this.#journal.recordSpawn(taskId, attempt, pid, startTime, at));
        }
        case 'progress': {
          const held = this.#byTask.get(event.taskId);
          if (held) held.progress = event.progress;
          return;
        }
        case 'log': {
          this.#logs.append(event.log);
          const held = this.#byTask.get(event.log.taskId);
          if (!held) return;
          if (held.logs.length < MAX_LOG_LINES_PER_FLUSH) held.logs.push(event.log);
          else held.droppedLogs += 1;
          return;
        }
        default:
          return;
      }
    } catch (error) {
      this.#log(`handling a ${event.type} event failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }

  #onState({ task, previous, endedAttempt }: Extract<SupervisorEvent, { type: 'state' }>): void {
    this.#journalWrite(() => this.#journal.recordTransition(task, previous, Date.now(), endedAttempt));
    const held = this.#byTask.get(task.id);
    if (!held) return;
    // The end goes in with the outcome (#finish); a lost attempt writes nothing more.
    if (isTerminalState(task.state) || held.lost) return;
    const k = this.#keys;
    const jobId = held.job.id!;
    const event = encodeEvent({ type: 'TASK_STATUS', task: this.#clusterSnapshot(held, task), previous });
    this.#redis
      .twUpdate(
        k.lock(jobId),
        k.task(task.id),
        held.token,
        k.events,
        event,
        ...flatFields(snapshotFields(task, this.name)),
      )
      .catch(() => {});
  }

  #flushAll(): void {
    for (const held of this.#held.values()) void this.#flush(held, false).catch(() => {});
  }

  /** Output and progress of a task to Redis: job.log, job.updateProgress, the record, the watchers. */
  async #flush(held: Held, final = true): Promise<void> {
    if (held.lost || !this.#leases.holds(held.job.id!)) return;
    const k = this.#keys;
    const jobId = held.job.id!;
    const writes: Array<Promise<unknown>> = [];
    const lines = held.logs.splice(0);
    if (held.droppedLogs > 0) {
      lines.push({
        taskId: held.taskId,
        attempt: lines[0]?.attempt ?? 1,
        stream: 'stderr',
        line: `[taskwarden] ${held.droppedLogs} line(s) not sent to the cluster (too many at once); agent ${this.name} keeps them: taskwarden logs --home ${this.home} ${held.taskId}`,
        at: Date.now(),
      });
      held.droppedLogs = 0;
    }
    if (lines.length > 0) {
      const pipeline = this.#redis.pipeline();
      for (const line of lines) pipeline.publish(k.events, encodeEvent({ type: 'TASK_LOG', log: line }));
      writes.push(pipeline.exec());
      for (const line of lines) writes.push(held.job.log(line.line));
    }
    const progress = held.progress;
    const now = performance.now();
    if (progress && (final || now - held.progressSentAt >= PROGRESS_EVERY_MS)) {
      held.progress = undefined;
      held.progressSentAt = now;
      writes.push(
        held.job.updateProgress({
          fraction: progress.fraction,
          ...(progress.message !== undefined ? { message: progress.message } : {}),
        }),
      );
      writes.push(
        this.#redis.twUpdate(
          k.lock(jobId),
          k.task(held.taskId),
          held.token,
          k.events,
          encodeEvent({ type: 'TASK_PROGRESS', taskId: held.taskId, progress }),
          'progress',
          JSON.stringify(progress),
        ),
      );
    }
    await Promise.all(writes.map((write) => write.catch(() => {})));
  }

  #clusterSnapshot(held: Held, task: TaskSnapshot): ClusterTaskSnapshot {
    return { ...task, host: this.name, jobId: held.job.id! };
  }

  async #heartbeat(): Promise<void> {
    const info: AgentInfo = {
      name: this.name,
      instance: this.instance,
      pid: process.pid,
      hostname: os.hostname(),
      concurrency: this.#worker?.concurrency ?? 0,
      startedAt: this.#startedAt,
      running: this.#held.size,
    };
    await this.#redis
      .multi()
      .set(this.#keys.agent(this.name), JSON.stringify(info), 'PX', AGENT_TTL_MS)
      .sadd(this.#keys.agents, this.name)
      .exec();
  }

  #journalWrite(write: () => unknown): void {
    try {
      write();
    } catch (error) {
      this.#log(`journal: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function newHeld(taskId: string, job: Job, token: string): Held {
  let markGone!: (outcome: TaskOutcome | undefined) => void;
  const gone = new Promise<TaskOutcome | undefined>((resolve) => (markGone = resolve));
  let markSettled!: () => void;
  const settled = new Promise<void>((resolve) => (markSettled = resolve));
  return { taskId, job, token, logs: [], droppedLogs: 0, progressSentAt: 0, gone, markGone, settled, markSettled };
}

/** The default state directory of an agent: beside the daemon's, one per queue. */
export function agentHome(home: string, queue: string): string {
  return join(home, `agent-${queue}`);
}
