/**
 * The control channel: what clients publish to every agent (stop one job, stop everything, pause
 * or resume one job) and what agents answer (an emergency stop is done here, a pause is done or
 * refused). Pub/sub delivers at most once, so every stop also has a durable record (the stop
 * records, the current emergency stop) that agents read when they take a job and after every
 * reconnect. A pause has none: it is a request with an answer, and the client that gets no
 * answer says so (a pause that arrives late would freeze a task nobody is watching for).
 * A client that waits for answers hears them on a connection of its own (answerListener).
 */
import { Redis } from 'ioredis';
import { z } from 'zod';
import { redisOptions } from './connection.js';
import { STOP_KINDS } from './scripts.js';

export const StopMessageSchema = z.object({
  type: z.literal('stop'),
  taskId: z.string(),
  jobId: z.string(),
  kind: z.enum(STOP_KINDS),
  at: z.number(),
});

export const StopAllMessageSchema = z.object({ type: z.literal('stop-all'), stopId: z.string(), at: z.number() });

export const AgentStopReportSchema = z.object({
  cancelled: z.number(),
  killed: z.number(),
  finished: z.number(),
  ms: z.number(),
});
export type AgentStopReport = z.output<typeof AgentStopReportSchema>;

export const StopAllDoneMessageSchema = z.object({
  type: z.literal('stop-all-done'),
  stopId: z.string(),
  agent: z.string(),
  report: AgentStopReportSchema,
});

/** Freeze (`resume` false) or thaw the task of one job; only the agent holding the job answers. */
export const PauseMessageSchema = z.object({
  type: z.literal('pause'),
  requestId: z.string(),
  taskId: z.string(),
  jobId: z.string(),
  resume: z.boolean(),
});

/** The holding agent's answer to a pause: done, or the Supervisor's refusal (NOT_PAUSABLE and its reason). */
export const PauseDoneMessageSchema = z.object({
  type: z.literal('pause-done'),
  requestId: z.string(),
  agent: z.string(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type PauseDoneMessage = z.output<typeof PauseDoneMessageSchema>;

export const ControlMessageSchema = z.discriminatedUnion('type', [
  StopMessageSchema,
  StopAllMessageSchema,
  StopAllDoneMessageSchema,
  PauseMessageSchema,
  PauseDoneMessageSchema,
]);
export type ControlMessage = z.output<typeof ControlMessageSchema>;

/** A control message, or undefined for anything else (a newer client's message is ignored, not fatal). */
export function parseControl(text: string): ControlMessage | undefined {
  try {
    const parsed = ControlMessageSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A connection of its own for a client that waits for the agents' answers: `onMessage` hears every
 * control message once the caller has subscribed it to the control channel; disconnect() when done.
 */
export function answerListener(
  url: string,
  connectionName: string,
  onMessage: (message: ControlMessage) => void,
): Redis {
  const listener = new Redis(redisOptions(url, connectionName));
  listener.on('error', () => {});
  listener.on('message', (_channel, text) => {
    const message = parseControl(text);
    if (message) onMessage(message);
  });
  return listener;
}

/** What an agent publishes about itself while it lives (a key with a TTL: a dead agent's expires). */
export const AgentInfoSchema = z.object({
  name: z.string(),
  instance: z.string(),
  pid: z.number(),
  hostname: z.string(),
  concurrency: z.number(),
  startedAt: z.number(),
  running: z.number(),
});
export type AgentInfo = z.output<typeof AgentInfoSchema>;
