/**
 * What the attempt of a held job tells the cluster: each state change into the task's record and to
 * the watchers at once (fenced by the job's lock token, scripts.ts); output and progress batched,
 * every 100 ms, into job.log and job.updateProgress (what BullMQ keeps), the record and the watchers.
 * The end goes in with the outcome (job-processor.ts); a job whose lease is lost writes nothing more.
 */
import type { LogLine, SupervisorEvent } from '../supervisor/types.js';
import { isTerminalState } from '../supervisor/types.js';
import { clusterSnapshot, type HeldJob, type HeldJobs } from './held-job.js';
import type { ClusterKeys } from './keys.js';
import type { Leases } from './lease.js';
import { encodeEvent, snapshotFields } from './records.js';
import { flatFields, type ScriptedRedis } from './scripts.js';

/** Output lines sent to Redis per task per flush; the rest stay in the agent's own log files. */
const MAX_LOG_LINES_PER_FLUSH = 200;
const FLUSH_MS = 100;
const PROGRESS_EVERY_MS = 250;

export interface JobReporterOptions {
  /** The agent's name, the host of its tasks. */
  name: string;
  /** The agent's state directory, where the lines not sent are kept. */
  home: string;
  redis: ScriptedRedis;
  keys: ClusterKeys;
  held: HeldJobs;
  leases: Leases;
  log: (line: string) => void;
}

export class JobReporter {
  readonly #options: JobReporterOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: JobReporterOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => this.#flushAll(), FLUSH_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  onSupervisorEvent(event: SupervisorEvent): void {
    try {
      if (event.type === 'state') this.#onState(event);
      else if (event.type === 'progress') {
        const held = this.#options.held.byTask(event.taskId);
        if (held) held.progress = event.progress;
      } else if (event.type === 'log') this.#onLog(event.log);
    } catch (error) {
      this.#options.log(
        `handling a ${event.type} event failed: ${error instanceof Error ? error.stack : String(error)}`,
      );
    }
  }

  /** Output and progress of a task to Redis: job.log, job.updateProgress, the record, the watchers. */
  async flush(held: HeldJob, final = true): Promise<void> {
    const { redis, keys: k, leases } = this.#options;
    if (held.lost || !leases.holds(held.job.id!)) return;
    const jobId = held.job.id!;
    const writes: Array<Promise<unknown>> = [];
    const lines = this.#takeLines(held);
    if (lines.length > 0) {
      const pipeline = redis.pipeline();
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
        redis.twUpdate(
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

  #onState({ task, previous }: Extract<SupervisorEvent, { type: 'state' }>): void {
    const { redis, keys: k, held: heldJobs, name } = this.#options;
    const held = heldJobs.byTask(task.id);
    if (!held) return;
    // The end goes in with the outcome (job-processor.ts); a lost attempt writes nothing more.
    if (isTerminalState(task.state) || held.lost) return;
    const jobId = held.job.id!;
    const event = encodeEvent({ type: 'TASK_STATUS', task: clusterSnapshot(held, task, name), previous });
    redis
      .twUpdate(k.lock(jobId), k.task(task.id), held.token, k.events, event, ...flatFields(snapshotFields(task, name)))
      .catch(() => {});
  }

  #onLog(log: LogLine): void {
    const held = this.#options.held.byTask(log.taskId);
    if (!held) return;
    if (held.logs.length < MAX_LOG_LINES_PER_FLUSH) held.logs.push(log);
    else held.droppedLogs += 1;
  }

  /** The lines waiting to be sent, and one that says how many were not (and where they are). */
  #takeLines(held: HeldJob): LogLine[] {
    const lines = held.logs.splice(0);
    if (held.droppedLogs > 0) {
      lines.push({
        taskId: held.taskId,
        attempt: lines[0]?.attempt ?? 1,
        stream: 'stderr',
        line: `[taskwarden] ${held.droppedLogs} line(s) not sent to the cluster (too many at once); agent ${this.#options.name} keeps them: taskwarden logs --home ${this.#options.home} ${held.taskId}`,
        at: Date.now(),
      });
      held.droppedLogs = 0;
    }
    return lines;
  }

  #flushAll(): void {
    for (const held of this.#options.held.all()) void this.flush(held, false).catch(() => {});
  }
}
