/**
 * The emergency stop, the client's side: the queue stops handing out jobs, every unfinished task
 * gets a cancel record and the agents the stop-all message, queued tasks are ended without
 * starting; it resolves when every live agent has reported its part done (or the deadline), and
 * the queue hands out jobs again.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { StopAllResult } from '../supervisor/types.js';
import { AgentStopReportSchema, answerListener, type AgentStopReport } from './control.js';
import { STOP_RECORD_TTL_S, type ClusterKeys } from './keys.js';
import type { ClusterScripts, ScriptedRedis } from './scripts.js';
import type { StopRequests } from './stop-requests.js';
import type { TaskView } from './task-view.js';

export interface ClusterStopAllResult extends StopAllResult {
  finished: number;
  /** Each agent's report: what it stopped and how long that took. */
  agents: Record<string, AgentStopReport>;
  /** Live agents that did not report before the deadline. */
  missing: string[];
}

/** Longest an emergency stop waits for the agents' reports. */
const STOP_ALL_TIMEOUT_MS = 120_000;

export interface EmergencyStopParts {
  url: string;
  redis: ScriptedRedis;
  keys: ClusterKeys;
  queue: Queue;
  view: TaskView;
  stops: StopRequests;
}

/** One emergency stop: its id, the agents' reports as they come, and the wait for them. */
export class EmergencyStop {
  readonly #parts: EmergencyStopParts;
  readonly #timeoutMs: number;
  readonly #stopId = randomUUID();
  readonly #reports: Record<string, AgentStopReport> = {};
  #wake = () => {};

  constructor(parts: EmergencyStopParts, timeoutMs = STOP_ALL_TIMEOUT_MS) {
    this.#parts = parts;
    this.#timeoutMs = timeoutMs;
  }

  async run(): Promise<ClusterStopAllResult> {
    const { url, redis, keys: k, queue, view, stops } = this.#parts;
    const startedAt = performance.now();
    const listener = answerListener(url, 'taskwarden-client-stop-all', (message) => {
      if (message.type === 'stop-all-done' && message.stopId === this.#stopId) {
        this.#reports[message.agent] = message.report;
        this.#wake();
      }
    });
    try {
      await listener.subscribe(k.control);
      await queue.pause();
      const [agents, active] = await Promise.all([view.agents(), view.read(await view.activeIds())]);
      await this.#send(active.map((task) => task.id));
      // Queued jobs come out of the queue, so they never start.
      const queued = active.filter((task) => task.state === 'queued' && task.jobId);
      const ended = await Promise.all(queued.map((task) => stops.endQueued(task.id, task.jobId!, 'stop-all')));
      const notStarted = ended.filter(Boolean).length;
      const missing = await this.#waitForReports(agents.map((agent) => agent.name));
      const all = Object.values(this.#reports);
      const sum = (key: keyof AgentStopReport) => all.reduce((total, report) => total + report[key], 0);
      return {
        cancelled: sum('cancelled'),
        killed: sum('killed'),
        finished: sum('finished'),
        notStarted,
        ms: performance.now() - startedAt,
        agents: this.#reports,
        missing,
      };
    } finally {
      await redis.del(k.currentStopAll).catch(() => {});
      await queue.resume().catch(() => {});
      listener.disconnect();
    }
  }

  /**
   * One round trip, in this order: a stop record for every unfinished job (an agent that misses the
   * publish, or takes a job later, finds it), the current stop for agents that reconnect, the publish.
   */
  async #send(taskIds: string[]): Promise<void> {
    const { redis, keys: k } = this.#parts;
    const pipeline = redis.pipeline() as unknown as ClusterScripts & {
      set: Redis['set'];
      publish: Redis['publish'];
      exec(): Promise<unknown>;
    };
    const at = Date.now();
    for (const taskId of taskIds)
      void pipeline.twRequestStop(k.task(taskId), 'cancel', at, STOP_RECORD_TTL_S, k.control, '', k.stopPrefix, taskId);
    void pipeline.set(k.currentStopAll, this.#stopId, 'PX', this.#timeoutMs);
    void pipeline.publish(k.control, JSON.stringify({ type: 'stop-all', stopId: this.#stopId, at }));
    await pipeline.exec();
  }

  /** Until every agent reported, died (its entry expired), or the deadline passed; returns the ones missing. */
  async #waitForReports(agents: string[]): Promise<string[]> {
    const { redis, keys: k, view } = this.#parts;
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      // Reports published before we listened, or lost: the hash has them all.
      const stored = await redis.hgetall(k.stopAllReports(this.#stopId));
      for (const [agent, text] of Object.entries(stored)) {
        const parsed = AgentStopReportSchema.safeParse(JSON.parse(text));
        if (parsed.success) this.#reports[agent] ??= parsed.data;
      }
      const alive = new Set((await view.agents()).map((agent) => agent.name));
      const waiting = agents.filter((agent) => !this.#reports[agent] && alive.has(agent));
      if (waiting.length === 0 || Date.now() >= deadline) return waiting;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
