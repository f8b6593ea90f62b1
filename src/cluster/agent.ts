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
 *
 * This class composes the parts and owns their lifetime: the machine-local side (agent-home.ts),
 * the jobs held (held-job.ts), one job's run (job-processor.ts), what it reports (job-reporter.ts),
 * the control channel (control-listener.ts), the leases (lease.ts) and its presence (presence.ts).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Worker, type ConnectionOptions } from 'bullmq';
import type { SupervisorOptions } from '../supervisor/options.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { AgentHome } from './agent-home.js';
import { displayUrl, redisOptions } from './connection.js';
import { ControlListener } from './control-listener.js';
import { HeldJobs } from './held-job.js';
import { JobProcessor } from './job-processor.js';
import { JobReporter } from './job-reporter.js';
import { BULL_PREFIX, ClusterKeys, DEFAULT_QUEUE } from './keys.js';
import { Leases } from './lease.js';
import { AgentPresence } from './presence.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

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

export class Agent {
  readonly name: string;
  readonly queue: string;
  readonly home: string;
  readonly instance = randomUUID();
  readonly #options: AgentOptions;
  readonly #keys: ClusterKeys;
  readonly #redis: ScriptedRedis;
  readonly #local: AgentHome;
  readonly #sup: Supervisor;
  readonly #leases: Leases;
  readonly #held: HeldJobs;
  readonly #reporter: JobReporter;
  readonly #processor: JobProcessor;
  readonly #control: ControlListener;
  readonly #presence: AgentPresence;
  readonly #log: (line: string) => void;
  readonly #lockDurationMs: number;
  readonly #startedAt = Date.now();
  #worker!: Worker;
  #closing: Promise<void> | undefined;

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
    const log =
      options.log ??
      ((line: string) => process.stderr.write(`${new Date().toISOString()} agent ${this.name}: ${line}\n`));
    this.#log = log;
    this.#lockDurationMs = options.lockDurationMs ?? 10_000;
    this.#local = new AgentHome(this.home, options, log);
    this.#sup = this.#local.supervisor;
    this.#redis = withScripts(new Redis(redisOptions(options.redis, `taskwarden-agent:${this.name}`)));
    this.#redis.on('error', () => {}); // reconnects by itself; said once in #begin
    this.#leases = new Leases({
      lockDurationMs: this.#lockDurationMs,
      extend: (jobIds, tokens) => this.#worker.extendJobLocks(jobIds, tokens, this.#lockDurationMs),
      onLost: (jobId, why) => this.#onLeaseLost(jobId, why),
      onError: () => {}, // a renewal that fails by connection is covered by the lease's guard
    });
    this.#held = new HeldJobs(this.#sup);
    const parts = { name: this.name, redis: this.#redis, keys: this.#keys, held: this.#held };
    this.#reporter = new JobReporter({ ...parts, home: this.home, leases: this.#leases, log });
    this.#sup.on('event', (event) => this.#reporter.onSupervisorEvent(event));
    this.#processor = new JobProcessor({
      ...parts,
      lockDurationMs: this.#lockDurationMs,
      supervisor: this.#sup,
      leases: this.#leases,
      reporter: this.#reporter,
    });
    this.#control = new ControlListener({ ...parts, url: options.redis, supervisor: this.#sup, log });
    this.#presence = new AgentPresence(this.#redis, this.#keys, this.name, () => ({
      name: this.name,
      instance: this.instance,
      pid: process.pid,
      hostname: os.hostname(),
      concurrency: this.#worker?.concurrency ?? 0,
      startedAt: this.#startedAt,
      running: this.#held.size,
    }));
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
    // An agent is a service: it waits for Redis, and says so once.
    const waiting = setTimeout(
      () => this.#log(`cannot reach Redis at ${displayUrl(this.#options.redis)} yet; still trying`),
      5000,
    );
    await this.#control.listen().finally(() => clearTimeout(waiting));
    const concurrency = this.#options.concurrency ?? os.availableParallelism();
    this.#worker = new Worker(this.queue, (job, token) => this.#processor.process(job, token), {
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
    await this.#presence.start();
    this.#reporter.start();
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
    this.#presence.stop();
    const closingWorker = this.#worker?.close().catch(() => {});
    const held = this.#held.all();
    for (const each of held) this.#held.stop(each, 'shutdown');
    await Promise.all(held.map((each) => each.gone));
    await closingWorker;
    this.#leases.stop();
    this.#reporter.stop();
    await this.#presence.withdraw();
    await this.#sup.shutdown();
    this.#control.close();
    this.#redis.disconnect();
    this.#local.close();
  }

  #onLeaseLost(jobId: string, why: string): void {
    const held = this.#held.lose(jobId, why);
    if (held) this.#log(`task ${held.taskId} (job ${jobId}): ${why}`);
  }
}

/** The default state directory of an agent: beside the daemon's, one per queue. */
export function agentHome(home: string, queue: string): string {
  return join(home, `agent-${queue}`);
}
