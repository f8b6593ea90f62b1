/**
 * What the daemon answers to each request type: one zod schema per type for the payload of the
 * ACK (WELCOME for HELLO), so that a client checks every reply as it checks events, and the
 * daemon's handlers are typed to return exactly these shapes (src/daemon/handlers.ts).
 *
 * The schemas check the wire form: a task's input and result (and an attempt's result) are any
 * JSON here; the client decodes their tagged encoding (values.ts) after the check. Unknown keys
 * are stripped, as on every message: a newer daemon may add fields.
 */
import { z } from 'zod';
import type { AttemptRecord, TransitionRecord } from '../journal/types.js';
import type { StopAllResult } from '../supervisor/types.js';
import type { RequestOf, RequestType } from './messages.js';
import { ProgressSchema, StopReasonSchema, TaskErrorSchema, TaskSnapshotSchema, TaskStateSchema } from './schemas.js';

const count = z.number().int().min(0);
const timestamp = z.number().min(0);
const attemptNumber = z.number().int().min(1);

/** Whether the daemon's writes to its state directory work; while they fail, since when and why. */
const WriteHealthSchema = z.object({
  writable: z.boolean(),
  failingSince: timestamp.optional(),
  /** Short cause: ENOSPC, SQLITE_IOERR_WRITE, ... */
  cause: z.string().max(200).optional(),
  message: z.string().max(2000).optional(),
});
export const DaemonHealthSchema = z.object({
  /** `held`: transitions and other writes kept in memory until the journal can be written. */
  journal: WriteHealthSchema.extend({ held: count }),
  /** Task log files; `droppedLines` since their writes began failing. */
  logs: WriteHealthSchema.extend({ droppedLines: count }),
});
export type DaemonHealth = z.output<typeof DaemonHealthSchema>;

/** How the daemon holds task processes (see README, No orphans): in force, and why not more. */
export const ContainmentInfoSchema = z.object({
  backend: z.enum(['cgroup', 'process-group']),
  controls: z.array(z.string().max(1000)).max(32),
  limits: z.array(z.string().max(1000)).max(32),
  /** The CPU priority mechanism for tasks at the daemon's default priority, in words. */
  priority: z.string().max(1000),
});
export type ContainmentInfo = z.output<typeof ContainmentInfoSchema>;

/** HELLO's answer (the WELCOME message, less `type` and `id`). */
export const WelcomePayloadSchema = z.object({
  version: z.number().int(),
  daemonPid: z.number().int().positive(),
  /** The daemon's state directory. */
  home: z.string(),
  /** Optional: an older daemon does not send it. */
  health: DaemonHealthSchema.optional(),
  /** Optional: an older daemon does not send it. */
  containment: ContainmentInfoSchema.optional(),
  /** "tagged" when the daemon agreed to HELLO's `values: "tagged"`; absent: plain JSON values. */
  values: z.string().max(64).optional(),
});

const SignalNameSchema = z.custom<NodeJS.Signals>(
  (value) => typeof value === 'string' && /^SIG[A-Z0-9]+$/.test(value),
  'expected a signal name such as "SIGTERM"',
);

export const AttemptRecordSchema: z.ZodType<AttemptRecord> = z.object({
  attempt: attemptNumber,
  state: TaskStateSchema,
  pid: z.number().int().positive().optional(),
  procStartTime: z.number().int().min(0).optional(),
  startedAt: timestamp.optional(),
  endedAt: timestamp.optional(),
  durationMs: z.number().min(0).optional(),
  exitCode: z.number().int().optional(),
  signal: SignalNameSchema.optional(),
  error: TaskErrorSchema.optional(),
  result: z.unknown().optional(),
  progress: ProgressSchema.optional(),
  progressAt: timestamp.optional(),
  stopReason: StopReasonSchema.optional(),
  escalated: z.boolean().optional(),
});

export const TransitionRecordSchema: z.ZodType<TransitionRecord> = z.object({
  attempt: z.number().int().min(0),
  from: TaskStateSchema.nullable(),
  to: TaskStateSchema,
  at: timestamp,
  detail: z.record(z.string(), z.unknown()).optional(),
});

export const StopAllResultSchema: z.ZodType<StopAllResult> = z.object({
  cancelled: count,
  killed: count,
  notStarted: count,
  finished: count,
  ms: z.number().min(0),
});

export const StoredLogLineSchema = z.object({ stream: z.enum(['stdout', 'stderr']), line: z.string() });

const taskReply = z.object({ task: TaskSnapshotSchema });
/**
 * `previous`: the task's state before the request, so a client tells "this stopped it" from "it
 * had already ended" (absent from daemons older than the field).
 */
const operationReply = taskReply.extend({ previous: TaskStateSchema.optional() });
const taskListReply = z.object({ tasks: z.array(TaskSnapshotSchema) });
const emptyReply = z.object({});

/** The ACK payload of each request type (WELCOME's for HELLO). */
export const REPLY_SCHEMAS = {
  HELLO: WelcomePayloadSchema,
  TASK_REQUEST: taskReply,
  TASK_CANCEL: operationReply,
  TASK_KILL: operationReply,
  TASK_RESTART: operationReply,
  TASK_PAUSE: operationReply,
  TASK_RESUME: operationReply,
  /** Sent once every process is reaped. */
  STOP_ALL: z.object({ result: StopAllResultSchema }),
  LIST: taskListReply,
  GET: z.object({
    task: TaskSnapshotSchema,
    attempts: z.array(AttemptRecordSchema),
    transitions: z.array(TransitionRecordSchema),
  }),
  HISTORY: taskListReply,
  /** `attempt` null: the task has no log; `truncated`: only the tail of the kept log fitted in a line. */
  LOGS: z.object({
    attempt: attemptNumber.nullable(),
    lines: z.array(StoredLogLineSchema),
    truncated: z.boolean().optional(),
  }),
  SUBSCRIBE: emptyReply,
  UNSUBSCRIBE: emptyReply,
  SHUTDOWN: emptyReply,
} as const satisfies { [K in RequestType]: z.ZodType };

/** What a request of type T is answered with (the ACK's payload, without `type` and `id`). */
export type ResponseOf<T extends RequestType> = z.output<(typeof REPLY_SCHEMAS)[T]>;

/** What a client passes for a request of type T: the request without `type` and `id`. */
export type PayloadOf<T extends RequestType> = Omit<RequestOf<T>, 'type' | 'id'>;

/** The payload argument of a request: optional for types whose fields are all optional (LIST, STOP_ALL, ...). */
export type PayloadArgs<T extends RequestType> =
  object extends PayloadOf<T> ? [payload?: PayloadOf<T>] : [payload: PayloadOf<T>];
