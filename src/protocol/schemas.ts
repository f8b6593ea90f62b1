/**
 * Zod schemas for the Supervisor's public types (src/supervisor/types.ts) as they
 * travel over the wire. Each schema is annotated with the TypeScript type it
 * validates, so a change to types.ts that the wire format does not follow fails
 * to compile instead of failing at run time.
 */
import { z } from 'zod';
import {
  ACTIVE_STATES,
  TERMINAL_STATES,
  type CommandTaskSpec,
  type LogLine,
  type ModuleTaskSpec,
  type Progress,
  type ResourceUsage,
  type StallInfo,
  type StopReason,
  type TaskError,
  type TaskOutcome,
  type TaskSnapshot,
  type TaskSpec,
} from '../supervisor/types.js';
import { MAX_TIMER_MS, MAX_TIMER_TEXT } from '../supervisor/limits.js';
import { MAX_PATH_CHARS, specLimitIssue } from './limits.js';

/**
 * Options for every safeParse in this module. Zod's default "Invalid input:
 * expected string, received undefined" is long; a short message reads better
 * after the field path ("TASK_REQUEST.spec.module: expected string, got number").
 */
export const PARSE_OPTIONS = {
  error: (issue: z.core.$ZodRawIssue): string | undefined => {
    if (issue.code !== 'invalid_type') return undefined;
    if (issue.input === undefined) return `required (expected ${issue.expected})`;
    return `expected ${issue.expected}, got ${describeValue(issue.input)}`;
  },
} as const;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isInteger(value)) return 'non-integer number';
  return typeof value;
}

/** Task ids are short strings ("1", "2", ...); the bound keeps ids safe in file names and replies. */
export const TaskIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a task id (1-64 of A-Z a-z 0-9 _ -)');

export const TaskStateSchema = z.enum([...ACTIVE_STATES, ...TERMINAL_STATES]);
export const TerminalStateSchema = z.enum(TERMINAL_STATES);

export const StopReasonSchema: z.ZodType<StopReason> = z.enum([
  'cancel',
  'kill',
  'restart',
  'stop-all',
  'timeout',
  'stall',
  'shutdown',
]);

/** A delay that arms a timer: Node turns one above MAX_TIMER_MS into 1 ms. */
const durationMs = z.number().int().min(0).max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_TEXT}`);
const path = z.string().min(1).max(MAX_PATH_CHARS, `longer than ${MAX_PATH_CHARS} characters (PATH_MAX)`);
const timestamp = z.number().min(0);

/** Fields shared by both spec kinds. */
const commonSpecFields = {
  name: z.string().max(200).optional(),
  cwd: path.optional(),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs: durationMs.optional(),
  graceMs: durationMs.optional(),
  priority: z.enum(['idle', 'low', 'normal']).optional(),
};

/**
 * Strict (unknown keys rejected): a typo such as `arg` for `args` should be an
 * error the user sees, not a silently ignored option.
 */
export const ModuleTaskSpecSchema: z.ZodType<ModuleTaskSpec> = z.strictObject({
  module: path,
  input: z.unknown().optional(),
  ...commonSpecFields,
});

export const CommandTaskSpecSchema: z.ZodType<CommandTaskSpec> = z.strictObject({
  command: path,
  args: z.array(z.string()).optional(),
  ...commonSpecFields,
});

/**
 * A module spec or a command spec. Not a plain z.union: a failed union reports
 * only "Invalid input" for the whole object, while picking the branch by its key
 * reports the exact field ("spec.module: expected string, got number").
 */
export const TaskSpecSchema: z.ZodType<TaskSpec> = z.unknown().transform((value, ctx): TaskSpec => {
  const fail = (message: string, path: PropertyKey[] = []): never => {
    ctx.addIssue({ code: 'custom', message, path });
    return z.NEVER;
  };
  if (value === undefined) return fail('required (expected a module or command spec)');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`expected an object with "module" or "command", got ${describeValue(value)}`);
  }
  const hasModule = 'module' in value;
  const hasCommand = 'command' in value;
  if (hasModule && hasCommand) return fail('give either "module" or "command", not both');
  if (!hasModule && !hasCommand) return fail('expected "module" (a task module path) or "command"');
  // Size and depth first, in time linear in the spec: past them, zod would build one issue
  // per bad element of a huge list (seconds for a 1 MiB line).
  const tooMuch = specLimitIssue(value, hasModule);
  if (tooMuch) return fail(tooMuch.message, tooMuch.path);
  const schema = hasModule ? ModuleTaskSpecSchema : CommandTaskSpecSchema;
  const parsed = schema.safeParse(value, PARSE_OPTIONS);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) fail(issue.message, issue.path);
  return z.NEVER;
});

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

export const TaskOutcomeSchema: z.ZodType<TaskOutcome> = z.object({
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

export const TaskSnapshotSchema: z.ZodType<TaskSnapshot> = z.object({
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
