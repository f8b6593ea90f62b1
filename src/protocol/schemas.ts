/**
 * Zod schemas for the Supervisor's public types (src/supervisor/types.ts), and tasks as
 * they are recorded and shown (src/journal/recorded-state.ts, 'interrupted' too), as they
 * travel over the wire. Each schema is annotated with the TypeScript type it
 * validates, so a change to types.ts that the wire format does not follow fails
 * to compile instead of failing at run time.
 */
import { z } from 'zod';
import type { LogLine, Progress, ResourceUsage, StallInfo, StopReason, TaskError } from '../supervisor/types.js';
import {
  RECORDED_STATES,
  RECORDED_TERMINAL_STATES,
  type RecordedOutcome,
  type RecordedTask,
} from '../journal/recorded-state.js';
import { TASK_ID_PATTERN, TASK_ID_RULE } from '../common/task-id.js';
import { taskSpecSchema } from '../supervisor/spec.js';
import { inputBytesIssue } from './limits.js';

/** Task ids are short strings ("1", "2", ...); the bound keeps ids safe in file names and replies. */
export const TaskIdSchema = z.string().regex(TASK_ID_PATTERN, `expected a task id (${TASK_ID_RULE})`);

export const TaskStateSchema = z.enum(RECORDED_STATES);
export const TerminalStateSchema = z.enum(RECORDED_TERMINAL_STATES);

export const StopReasonSchema: z.ZodType<StopReason> = z.enum([
  'cancel',
  'kill',
  'restart',
  'stop-all',
  'timeout',
  'stall',
  'shutdown',
]);

const timestamp = z.number().min(0);

/** Specs as TASK_REQUEST carries them: any spec (supervisor/spec.ts), and an input that fits a line. */
export const TaskSpecSchema = taskSpecSchema({ extraIssue: inputBytesIssue });

export const ProgressSchema: z.ZodType<Progress> = z.object({
  fraction: z.number().min(0).max(1),
  message: z.string().optional(),
});

export const ResourceUsageSchema: z.ZodType<ResourceUsage> = z.object({
  cpuPercent: z.number().min(0),
  rssBytes: z.number().min(0),
  processes: z.number().int().min(0),
  sampledAt: timestamp,
  windowMs: z.number().min(0),
  runnable: z.boolean().optional(),
});

export const StallInfoSchema: z.ZodType<StallInfo> = z.object({
  taskId: TaskIdSchema,
  silentForMs: z.number().min(0),
  diagnosis: z.enum(['spinning', 'blocked', 'unknown']),
  cpuPercent: z.number().min(0),
});

export const LogLineSchema: z.ZodType<LogLine> = z.object({
  taskId: TaskIdSchema,
  attempt: z.number().int().min(1),
  stream: z.enum(['stdout', 'stderr']),
  line: z.string(),
  at: timestamp,
});

export const TaskErrorSchema: z.ZodType<TaskError> = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  code: z.string().optional(),
});

/** Signal names are checked by shape only: the peer may run another Node version with other names. */
const SignalSchema = z.custom<NodeJS.Signals>(
  (value) => typeof value === 'string' && /^SIG[A-Z0-9]+$/.test(value),
  'expected a signal name such as "SIGTERM"',
);

export const TaskOutcomeSchema: z.ZodType<RecordedOutcome> = z.object({
  state: TerminalStateSchema,
  result: z.unknown().optional(),
  error: TaskErrorSchema.optional(),
  exitCode: z.number().int().nullable().optional(),
  signal: SignalSchema.nullable().optional(),
  stopReason: StopReasonSchema.optional(),
  escalated: z.boolean().optional(),
  durationMs: z.number().min(0),
  attempt: z.number().int().min(1),
});

export const TaskSnapshotSchema: z.ZodType<RecordedTask> = z.object({
  id: TaskIdSchema,
  name: z.string(),
  kind: z.enum(['module', 'command']),
  spec: TaskSpecSchema,
  state: TaskStateSchema,
  /** 0 is allowed for a task that has not started its first attempt yet. */
  attempt: z.number().int().min(0),
  pid: z.number().int().positive().optional(),
  progress: ProgressSchema.optional(),
  usage: ResourceUsageSchema.optional(),
  stall: StallInfoSchema.optional(),
  createdAt: timestamp,
  startedAt: timestamp.optional(),
  endedAt: timestamp.optional(),
  outcome: TaskOutcomeSchema.optional(),
  stopReason: StopReasonSchema.optional(),
});
