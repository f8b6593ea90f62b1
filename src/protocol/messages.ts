/**
 * The wire protocol between the daemon and its clients: newline-delimited JSON,
 * one message per line (see framing.ts), every message an object with a `type`.
 *
 * Client -> daemon: requests, each with a request `id` (string or integer) chosen
 * by the client. Every request gets exactly one reply carrying the same id:
 * ACK (or WELCOME for HELLO) on success, ERROR otherwise.
 * Daemon -> client: replies, and events (no id) for subscribed clients.
 *
 * Unknown keys on a message are stripped (a newer peer may add fields), but task
 * specs are strict, see schemas.ts.
 */
import { z } from 'zod';
import {
  LogLineSchema,
  ProgressSchema,
  ResourceUsageSchema,
  StallInfoSchema,
  TaskIdSchema,
  TaskSnapshotSchema,
  TaskSpecSchema,
  TaskStateSchema,
} from './schemas.js';
import { DaemonHealthSchema, WelcomePayloadSchema } from './replies.js';

export type { DaemonHealth } from './replies.js';
import { isFinishedState } from '../journal/recorded-state.js';

/** Bumped on any incompatible change; HELLO and WELCOME exchange it. */
export const PROTOCOL_VERSION = 1;

export const ERROR_CODES = [
  'BAD_JSON', // the line is not JSON
  'BAD_MESSAGE', // JSON, but not a valid message (the message names the field)
  'UNKNOWN_TYPE', // a `type` this side does not know
  'LINE_TOO_LONG', // the line exceeded MAX_LINE_BYTES and was discarded
  'VERSION_MISMATCH', // HELLO with another PROTOCOL_VERSION
  'UNKNOWN_TASK', // no task with that id
  'INTERNAL', // handling the request threw
  'SHUTTING_DOWN', // the daemon is stopping and takes no new work
  'JOURNAL_UNWRITABLE', // journal writes are failing (disk full, read-only): no new work until they go in
  'NOT_PAUSABLE', // TASK_PAUSE of a task that is not running, TASK_RESUME of one that is not paused
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Bounded so an ERROR reply that echoes the id stays small. Integers are safe
 * integers (zod's int()), so they survive JSON round trips exactly.
 */
export const RequestIdSchema = z.union([z.string().min(1).max(128), z.number().int()], {
  error: (issue) =>
    issue.input === undefined
      ? 'required (expected a string or an integer)'
      : 'expected a string of 1-128 characters or an integer',
});
export type RequestId = z.infer<typeof RequestIdSchema>;

const id = RequestIdSchema;
const attempt = z.number().int().min(1);

// ---- client -> daemon ------------------------------------------------------

export const HelloSchema = z.object({
  type: z.literal('HELLO'),
  id,
  version: z.number().int(),
  /** Free-form client name and version, for the daemon's log, e.g. "taskwarden-cli/0.1.0". */
  client: z.string().max(200),
  /**
   * "tagged": task inputs and results cross this connection in the tagged encoding of values.ts
   * (Maps, Dates, BigInts, typed arrays, ... survive). Absent (older clients): plain JSON, as
   * JSON.stringify writes them. A daemon that does not know the field ignores it and its WELCOME
   * has no `values`: the client then speaks plain JSON.
   */
  values: z.string().max(64).optional(),
});
export const TaskRequestSchema = z.object({ type: z.literal('TASK_REQUEST'), id, spec: TaskSpecSchema });
export const TaskCancelSchema = z.object({ type: z.literal('TASK_CANCEL'), id, taskId: TaskIdSchema });
export const TaskKillSchema = z.object({ type: z.literal('TASK_KILL'), id, taskId: TaskIdSchema });
export const TaskRestartSchema = z.object({ type: z.literal('TASK_RESTART'), id, taskId: TaskIdSchema });
export const TaskPauseSchema = z.object({ type: z.literal('TASK_PAUSE'), id, taskId: TaskIdSchema });
export const TaskResumeSchema = z.object({ type: z.literal('TASK_RESUME'), id, taskId: TaskIdSchema });
export const StopAllSchema = z.object({ type: z.literal('STOP_ALL'), id });
export const ListSchema = z.object({ type: z.literal('LIST'), id, includeFinished: z.boolean().optional() });
export const GetSchema = z.object({ type: z.literal('GET'), id, taskId: TaskIdSchema });
export const HistorySchema = z.object({
  type: z.literal('HISTORY'),
  id,
  limit: z.number().int().min(1).max(10_000).optional(),
});
export const LogsSchema = z.object({
  type: z.literal('LOGS'),
  id,
  taskId: TaskIdSchema,
  /** Default: the task's latest attempt. */
  attempt: attempt.optional(),
  /** Default: all that is kept (the log is capped, see journal/attempt-log-file.ts). */
  tailBytes: z.number().int().min(0).optional(),
});
export const SubscribeSchema = z.object({ type: z.literal('SUBSCRIBE'), id });
export const UnsubscribeSchema = z.object({ type: z.literal('UNSUBSCRIBE'), id });
export const ShutdownSchema = z.object({ type: z.literal('SHUTDOWN'), id });

/** Request schemas by type; the parser dispatches on this map. */
export const REQUEST_SCHEMAS = {
  HELLO: HelloSchema,
  TASK_REQUEST: TaskRequestSchema,
  TASK_CANCEL: TaskCancelSchema,
  TASK_KILL: TaskKillSchema,
  TASK_RESTART: TaskRestartSchema,
  TASK_PAUSE: TaskPauseSchema,
  TASK_RESUME: TaskResumeSchema,
  STOP_ALL: StopAllSchema,
  LIST: ListSchema,
  GET: GetSchema,
  HISTORY: HistorySchema,
  LOGS: LogsSchema,
  SUBSCRIBE: SubscribeSchema,
  UNSUBSCRIBE: UnsubscribeSchema,
  SHUTDOWN: ShutdownSchema,
} as const;

export type RequestType = keyof typeof REQUEST_SCHEMAS;
export type Request = { [K in RequestType]: z.output<(typeof REQUEST_SCHEMAS)[K]> }[RequestType];
export type RequestOf<T extends RequestType> = Extract<Request, { type: T }>;

// ---- daemon -> client ------------------------------------------------------

/** The reply to HELLO (in place of an ACK). */
export const WelcomeSchema = WelcomePayloadSchema.extend({ type: z.literal('WELCOME'), id });

/**
 * Success reply. The payload keys sit next to `type` and `id` and depend on the
 * request (e.g. `task` for TASK_REQUEST, `tasks` for LIST): only the client that
 * sent the request knows which, so it checks them against the request type's
 * schema in replies.ts (parseReply).
 */
export const AckSchema = z.looseObject({ type: z.literal('ACK'), id });

export const ErrorSchema = z.object({
  type: z.literal('ERROR'),
  /** The request's id, or null when the line could not be parsed far enough to find one. */
  id: RequestIdSchema.nullable(),
  code: z.enum(ERROR_CODES),
  message: z.string(),
});

export const TaskStatusSchema = z.object({
  type: z.literal('TASK_STATUS'),
  task: TaskSnapshotSchema,
  /** The state before this change, when the event is a transition. */
  previous: TaskStateSchema.optional(),
});
export const TaskProgressSchema = z.object({
  type: z.literal('TASK_PROGRESS'),
  taskId: TaskIdSchema,
  progress: ProgressSchema,
});
export const TaskCompleteSchema = z.object({
  type: z.literal('TASK_COMPLETE'),
  task: TaskSnapshotSchema.refine((task) => isFinishedState(task.state), {
    error: 'TASK_COMPLETE carries a task in a terminal state',
    path: ['state'],
  }),
});
export const TaskStallSchema = z.object({
  type: z.literal('TASK_STALL'),
  taskId: TaskIdSchema,
  stall: StallInfoSchema,
});
export const TaskLogSchema = z.object({ type: z.literal('TASK_LOG'), log: LogLineSchema });
/** Resource samples (SupervisorEvent 'usage'); optional for clients to use. */
export const TaskUsageSchema = z.object({
  type: z.literal('TASK_USAGE'),
  taskId: TaskIdSchema,
  usage: ResourceUsageSchema,
});
/** To subscribers whenever the daemon's health changes (journal or task log writes start or stop failing). */
export const DaemonHealthEventSchema = z.object({ type: z.literal('DAEMON_HEALTH'), health: DaemonHealthSchema });
/** Sent after the ACK of SUBSCRIBE: every task the daemon knows, so a client starts from a full picture. */
export const SnapshotSchema = z.object({ type: z.literal('SNAPSHOT'), tasks: z.array(TaskSnapshotSchema) });

export const DAEMON_MESSAGE_SCHEMAS = {
  WELCOME: WelcomeSchema,
  ACK: AckSchema,
  ERROR: ErrorSchema,
  TASK_STATUS: TaskStatusSchema,
  TASK_PROGRESS: TaskProgressSchema,
  TASK_COMPLETE: TaskCompleteSchema,
  TASK_STALL: TaskStallSchema,
  TASK_LOG: TaskLogSchema,
  TASK_USAGE: TaskUsageSchema,
  DAEMON_HEALTH: DaemonHealthEventSchema,
  SNAPSHOT: SnapshotSchema,
} as const;

export type DaemonMessageType = keyof typeof DAEMON_MESSAGE_SCHEMAS;
export type DaemonMessage = {
  [K in DaemonMessageType]: z.output<(typeof DAEMON_MESSAGE_SCHEMAS)[K]>;
}[DaemonMessageType];
export type DaemonMessageOf<T extends DaemonMessageType> = Extract<DaemonMessage, { type: T }>;
export type Ack = DaemonMessageOf<'ACK'>;
export type ErrorReply = DaemonMessageOf<'ERROR'>;
export type EventType = Exclude<DaemonMessageType, 'WELCOME' | 'ACK' | 'ERROR'>;
export type DaemonEvent = DaemonMessageOf<EventType>;

// ---- builders (typed, unvalidated: the daemon's own output is trusted) -----

/** An ACK for request `requestId`; payload keys `type` and `id` are not allowed to override. */
export function ack(requestId: RequestId, payload: Record<string, unknown> = {}): Ack {
  return { ...payload, type: 'ACK', id: requestId };
}

export function errorReply(requestId: RequestId | null, code: ErrorCode, message: string): ErrorReply {
  return { type: 'ERROR', id: requestId, code, message };
}
