/**
 * One handler per request type. A handler returns the ACK payload (or a
 * promise of it) and throws RequestError for an answer the client should act
 * on; anything else it throws becomes an INTERNAL error (the daemon carries on).
 * Error messages name the task and say what to do.
 */
import { isAbsolute, join } from 'node:path';
import { JOURNAL_FILE, type Journal, type LogStore } from '../journal/index.js';
import {
  MAX_LINE_BYTES,
  PROTOCOL_VERSION,
  TAGGED_VALUES,
  ValueDecodeError,
  decodeValue,
  type DaemonHealth,
  type ErrorCode,
  type RequestOf,
  type RequestType,
  type ResponseOf,
} from '../protocol/index.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { type TaskSpec } from '../supervisor/types.js';
import { isFinishedState, type RecordedTask } from '../journal/recorded-state.js';
import type { Connection } from './connection.js';
import { abridgeEnv } from './fit.js';
import { programProblem } from './program.js';
import { clockTime, remedy } from './health.js';
import type { JournalHealth } from './journal-writer.js';
import { textureTaskModule } from '../tasks/texture/module-path.js';

export class RequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export interface HandlerContext {
  home: string;
  sup: Supervisor;
  journal: Journal;
  logs: LogStore;
  isShuttingDown(): boolean;
  /** For WELCOME. */
  health(): DaemonHealth;
  /** Tries the journal writes held back by failures now; returns the journal's health after that. */
  retryJournal(): JournalHealth;
  /** Tasks interrupted by this daemon's recovery (not in the supervisor). */
  recovered(): RecordedTask[];
  subscribe(connection: Connection): void;
  unsubscribe(connection: Connection): void;
  shutdown(reason: string): void;
  log(message: string): void;
}

type AfterReply = (fn: () => void) => void;
/** Answers with what protocol/replies.ts says a request of type T is answered with. */
type Handler<T extends RequestType> = (
  request: RequestOf<T>,
  connection: Connection,
  afterReply: AfterReply,
) => ResponseOf<T> | Promise<ResponseOf<T>>;
export type Handlers = { [K in RequestType]: Handler<K> };

/** How many finished tasks LIST with includeFinished takes from the journal. */
const LIST_JOURNAL_LIMIT = 500;

export function createHandlers(ctx: HandlerContext): Handlers {
  return {
    HELLO: (request, connection, afterReply) => hello(ctx, request, connection, afterReply),
    TASK_REQUEST: (request, connection) => taskRequest(ctx, decodeInput(request.spec, connection)),
    TASK_CANCEL: (request) => operate(ctx, request.taskId, 'cancelled', (id) => ctx.sup.cancel(id)),
    TASK_KILL: (request) => operate(ctx, request.taskId, 'killed', (id) => ctx.sup.kill(id)),
    TASK_RESTART: (request) => {
      refuseWhenShuttingDown(ctx, 'restarts no task');
      refuseWhenJournalFails(ctx, 'restarts no task');
      if (!ctx.sup.get(request.taskId)) return restartFromJournal(ctx, request.taskId);
      return operate(ctx, request.taskId, 'restarted', (id) => ctx.sup.restart(id));
    },
    TASK_PAUSE: (request) => operate(ctx, request.taskId, 'paused', (id) => pausing(() => ctx.sup.pause(id))),
    TASK_RESUME: (request) => operate(ctx, request.taskId, 'resumed', (id) => pausing(() => ctx.sup.resume(id))),
    STOP_ALL: async () => ({ result: await ctx.sup.stopAll() }),
    // Fitted to a line once their values are encoded for the connection (request-dispatch.ts).
    LIST: (request) => ({ tasks: list(ctx, request.includeFinished ?? false) }),
    GET: (request) => get(ctx, request.taskId),
    HISTORY: (request) => ({ tasks: ctx.journal.history(request.limit ?? 50) }),
    LOGS: (request) => logs(ctx, request),
    SUBSCRIBE: (_request, connection, afterReply) => {
      afterReply(() => ctx.subscribe(connection));
      return {};
    },
    UNSUBSCRIBE: (_request, connection) => {
      ctx.unsubscribe(connection);
      return {};
    },
    SHUTDOWN: (_request, connection, afterReply) => {
      afterReply(() =>
        ctx.shutdown(
          `SHUTDOWN from client ${connection.id}${connection.clientName ? ` (${connection.clientName})` : ''}`,
        ),
      );
      return {};
    },
  };
}

function hello(
  ctx: HandlerContext,
  request: RequestOf<'HELLO'>,
  connection: Connection,
  afterReply: AfterReply,
): ResponseOf<'HELLO'> {
  if (request.version !== PROTOCOL_VERSION) {
    afterReply(() => connection.end());
    throw new RequestError(
      'VERSION_MISMATCH',
      `this daemon speaks protocol version ${PROTOCOL_VERSION}, the client ${request.version}: ` +
        `use the same taskwarden version for both (stop this daemon with "taskwarden shutdown --home ${ctx.home}")`,
    );
  }
  connection.hello = true;
  connection.clientName = request.client;
  connection.values = request.values === TAGGED_VALUES ? 'tagged' : 'plain';
  return {
    version: PROTOCOL_VERSION,
    daemonPid: process.pid,
    home: ctx.home,
    health: ctx.health(),
    containment: {
      backend: ctx.sup.containment.backend,
      controls: [...ctx.sup.containment.controls],
      limits: [...ctx.sup.containment.limits],
      priority: ctx.sup.priorityMechanism,
    },
    ...(connection.values === 'tagged' ? { values: TAGGED_VALUES } : {}),
  };
}

/** A tagged client's input, decoded to the values it stands for (a Map, a Date, ...): the task gets those. */
function decodeInput(spec: TaskSpec, connection: Connection): TaskSpec {
  if (connection.values !== 'tagged' || !('input' in spec) || spec.input === undefined) return spec;
  try {
    return { ...spec, input: decodeValue(spec.input, 'TASK_REQUEST.spec.input') };
  } catch (error) {
    if (error instanceof ValueDecodeError) throw new RequestError('BAD_MESSAGE', error.message);
    throw error;
  }
}

/**
 * The built-in texture task leaves nothing behind between images, and a plate is many of them:
 * it runs on reusable runners unless the spec says otherwise (`reuse: false`, `run --isolate`).
 */
function withReuseDefault(spec: TaskSpec): TaskSpec {
  if (!('module' in spec) || spec.reuse !== undefined || spec.module !== textureTaskModule) return spec;
  return { ...spec, reuse: true };
}

function taskRequest(ctx: HandlerContext, spec: TaskSpec): ResponseOf<'TASK_REQUEST'> {
  refuseWhenShuttingDown(ctx, 'takes no new tasks');
  refuseWhenJournalFails(ctx, 'starts no new task');
  checkPaths(spec);
  let task: RecordedTask;
  try {
    task = ctx.sup.start(withReuseDefault(spec)).snapshot();
  } catch (error) {
    // The supervisor validates specs with TypeErrors that name the field.
    if (error instanceof TypeError) throw new RequestError('BAD_MESSAGE', `TASK_REQUEST.spec: ${error.message}`);
    throw error;
  }
  // Journaled and told to subscribers by the supervisor's 'created' event (the daemon's one writer).
  return { task: abridgeEnv(task) };
}

/** The daemon's working directory is not the client's: relative paths would resolve somewhere unexpected. */
function checkPaths(spec: TaskSpec): void {
  if (spec.cwd !== undefined && !isAbsolute(spec.cwd)) {
    throw new RequestError(
      'BAD_MESSAGE',
      `TASK_REQUEST.spec.cwd: must be an absolute path, got ${JSON.stringify(spec.cwd)}`,
    );
  }
  const path = 'module' in spec && spec.module !== undefined ? spec.module : (spec as { command: string }).command;
  const relative =
    'module' in spec && spec.module !== undefined ? !isAbsolute(path) : path.includes('/') && !isAbsolute(path);
  if (relative && spec.cwd === undefined) {
    const field = 'module' in spec && spec.module !== undefined ? 'module' : 'command';
    throw new RequestError(
      'BAD_MESSAGE',
      `TASK_REQUEST.spec.${field}: the relative path ${JSON.stringify(path)} needs spec.cwd (an absolute directory), or make it absolute`,
    );
  }
  // A program given by its path is checked now: "not executable" is said to the client, not found at start.
  if (!('module' in spec && spec.module !== undefined) && path.includes('/')) {
    const problem = programProblem(
      isAbsolute(path) ? path : join(spec.cwd!, path),
      path,
      spec.env?.PATH ?? process.env.PATH,
    );
    if (problem) throw new RequestError('BAD_MESSAGE', `TASK_REQUEST.spec.command: ${problem}`);
  }
}

function refuseWhenShuttingDown(ctx: HandlerContext, what: string): void {
  if (ctx.isShuttingDown()) {
    throw new RequestError(
      'SHUTTING_DOWN',
      `the daemon is shutting down and ${what}; try again in a moment (the next command starts a new daemon)`,
    );
  }
}

/**
 * New work waits while the journal cannot be written (what a client sees, the journal must get):
 * stops keep working, and the held writes go in once the journal can be written again.
 */
function refuseWhenJournalFails(ctx: HandlerContext, what: string): void {
  const journal = ctx.retryJournal();
  if (journal.writable) return;
  const since = journal.failingSince !== undefined ? ` since ${clockTime(journal.failingSince, true)}` : '';
  throw new RequestError(
    'JOURNAL_UNWRITABLE',
    `the journal ${join(ctx.home, JOURNAL_FILE)} cannot be written${since} (${journal.cause}: ${journal.message}), so the daemon ${what}; ` +
      `${remedy(journal.cause, ctx.home)} and try again. The ${journal.held} change(s) it could not write are held in memory and go in once it can; ` +
      'cancel, kill and stop-all keep working; "taskwarden doctor" shows the state',
  );
}

/**
 * Restart of a task this daemon does not hold: one that ran under an earlier daemon (interrupted
 * when that daemon died, or finished), known from the journal. It runs again from its recorded
 * spec, under the same id, as the next attempt.
 */
function restartFromJournal(ctx: HandlerContext, taskId: string): ResponseOf<'TASK_RESTART'> {
  const known = ctx.journal.getTask(taskId)?.task;
  if (!known) throw unknownTask(ctx, taskId);
  // Recovery leaves no journaled task active without a daemon; never start a second copy of one.
  if (!isFinishedState(known.state)) {
    throw new RequestError(
      'UNKNOWN_TASK',
      `task ${taskId} is recorded as ${known.state} but this daemon does not hold it; restart the daemon ("taskwarden shutdown"), whose recovery settles it, then try again`,
    );
  }
  const task = ctx.sup
    .start(known.spec, { id: taskId, attempt: known.attempt + 1, createdAt: known.createdAt })
    .snapshot();
  return { task: abridgeEnv(task), previous: known.state };
}

/**
 * `previous` is the task's state before this request: a client tells "this request
 * stopped it" (a queued task ends `cancelled` at once) from "it had already ended".
 */
function operate(
  ctx: HandlerContext,
  taskId: string,
  done: string,
  op: (id: string) => void,
): ResponseOf<'TASK_CANCEL' | 'TASK_KILL' | 'TASK_RESTART'> {
  const handle = ctx.sup.get(taskId);
  if (!handle) throw unknownTask(ctx, taskId, done);
  const previous = handle.state;
  op(taskId);
  return { task: abridgeEnv(ctx.sup.get(taskId)!.snapshot()), previous };
}

/** The supervisor's refusal to pause or resume a task in another state, as the protocol's error. */
function pausing(op: () => void): void {
  try {
    op();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'NOT_PAUSABLE')
      throw new RequestError('NOT_PAUSABLE', (error as Error).message);
    throw error;
  }
}

function unknownTask(ctx: HandlerContext, taskId: string, done?: string): RequestError {
  const known = ctx.journal.getTask(taskId)?.task;
  if (known && done) {
    return new RequestError(
      'UNKNOWN_TASK',
      `task ${taskId} is ${known.state} and no longer held by the running daemon (it ran under an earlier daemon, or ended long ago); ` +
        `only the running daemon's tasks can be ${done}; to run it again: "taskwarden restart ${taskId}"`,
    );
  }
  return new RequestError('UNKNOWN_TASK', `no task ${taskId}: "taskwarden ls --all" lists the known tasks`);
}

function list(ctx: HandlerContext, includeFinished: boolean): RecordedTask[] {
  const live = ctx.sup.list();
  if (!includeFinished) return live.filter((task) => !isFinishedState(task.state));
  const byId = new Map<string, RecordedTask>();
  for (const task of ctx.journal.listTasks({ includeFinished: true, limit: LIST_JOURNAL_LIMIT }))
    byId.set(task.id, task);
  // Live snapshots carry what the journal does not (usage, stall): they win.
  for (const task of live) byId.set(task.id, task);
  return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt || compareIds(a.id, b.id));
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function get(ctx: HandlerContext, taskId: string): ResponseOf<'GET'> {
  const record = ctx.journal.getTask(taskId);
  const live = ctx.sup.get(taskId)?.snapshot();
  if (!record && !live) throw unknownTask(ctx, taskId);
  return { task: live ?? record!.task, attempts: record?.attempts ?? [], transitions: record?.transitions ?? [] };
}

function logs(ctx: HandlerContext, request: RequestOf<'LOGS'>): ResponseOf<'LOGS'> {
  if (!ctx.sup.get(request.taskId) && !ctx.journal.getTask(request.taskId)) throw unknownTask(ctx, request.taskId);
  const read = ctx.logs.read(request.taskId, request.attempt, request.tailBytes);
  let lines = read.lines;
  let truncated = false;
  // The kept log (1 MiB by default) plus JSON escaping may not fit in one line: keep its tail.
  while (lines.length > 0 && Buffer.byteLength(JSON.stringify(lines)) > MAX_LINE_BYTES - 4096) {
    lines = lines.slice(Math.ceil(lines.length / 2));
    truncated = true;
  }
  return { attempt: read.attempt, lines, ...(truncated ? { truncated } : {}) };
}
