/**
 * Every message must fit in one line (MAX_LINE_BYTES), or the peer discards it.
 * Task snapshots carry user data (a task's input, its result) of any size, so
 * events and snapshots are slimmed when needed rather than lost: large
 * input/result values are replaced by a note (the journal keeps the real ones),
 * and a SNAPSHOT too large even then leaves out the oldest finished tasks.
 *
 * A spec's `env` is abridged in every event and list, fitting or not: it is the same for
 * every event of a task, and a large one (up to MAX_ENV_VARS variables) would be carried
 * whole in each of them. Only GET (`taskwarden show`) and the journal keep it whole.
 */
import { MAX_LINE_BYTES, MessageTooLargeError, encodeMessage, type DaemonMessage } from '../protocol/index.js';
import { type LogLine } from '../supervisor/types.js';
import { isFinishedState, type RecordedTask } from '../journal/recorded-state.js';

/** A value whose JSON is longer than this is replaced in a slimmed snapshot. */
const MAX_VALUE_CHARS = 16 * 1024;
/** An env whose JSON is longer than this is abridged in events and lists. */
export const MAX_ENV_CHARS = 4 * 1024;
/**
 * The one key of an abridged env. No real variable can have it: a name cannot contain "=".
 * Its value says how much was left out and where to find it.
 */
const ABRIDGED_ENV_KEY = '=abridged';
/** Room left for the envelope around a log line. */
const MAX_LOG_LINE_CHARS = Math.floor(MAX_LINE_BYTES / 4);

/** The encoded line for an event, slimmed if needed; undefined (and logged) if it cannot be made to fit. */
export function fitEvent(message: DaemonMessage, log: (message: string) => void): string | undefined {
  if (message.type === 'TASK_STATUS' || message.type === 'TASK_COMPLETE')
    message = { ...message, task: abridgeEnv(message.task) };
  const encoded = tryEncode(message);
  if (encoded !== undefined) return encoded;
  const slim = slimMessage(message);
  const retried = slim === undefined ? undefined : tryEncode(slim);
  if (retried === undefined) log(`a ${message.type} event was too large to send and was skipped`);
  return retried;
}

/** The tasks of a SNAPSHOT, slimmed and, if still too large, without the oldest finished tasks. */
export function fitTasks(tasks: RecordedTask[]): RecordedTask[] {
  tasks = tasks.map(abridgeEnv);
  if (fits(tasks)) return tasks;
  let kept = tasks.map(slimTask);
  while (!fits(kept)) {
    const finished = kept.filter((t) => isFinishedState(t.state)).sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    const drop = new Set(
      finished.length > 0 ? finished.slice(0, Math.ceil(finished.length / 2)) : kept.slice(Math.floor(kept.length / 2)),
    );
    kept = kept.filter((t) => !drop.has(t));
  }
  return kept;
}

export function slimTask(task: RecordedTask): RecordedTask {
  const spec =
    'input' in task.spec && tooLarge(task.spec.input) ? { ...task.spec, input: omitted(task.spec.input) } : task.spec;
  const outcome =
    task.outcome && tooLarge(task.outcome.result)
      ? { ...task.outcome, result: omitted(task.outcome.result) }
      : task.outcome;
  return { ...task, spec, ...(outcome ? { outcome } : {}) };
}

/** The task with a large spec.env replaced by a note (the same object when there is nothing to abridge). */
export function abridgeEnv(task: RecordedTask): RecordedTask {
  const env = task.spec.env;
  if (env === undefined) return task;
  const chars = JSON.stringify(env).length;
  if (chars <= MAX_ENV_CHARS) return task;
  const note = `${Object.keys(env).length} variables (${chars} characters) left out of events and lists; "taskwarden show ${task.id} --json" has them`;
  return { ...task, spec: { ...task.spec, env: { [ABRIDGED_ENV_KEY]: note } } };
}

function slimMessage(message: DaemonMessage): DaemonMessage | undefined {
  if (message.type === 'TASK_STATUS' || message.type === 'TASK_COMPLETE')
    return { ...message, task: slimTask(message.task) };
  if (message.type === 'TASK_LOG') return { ...message, log: cutLine(message.log) };
  return undefined;
}

function cutLine(log: LogLine): LogLine {
  if (log.line.length <= MAX_LOG_LINE_CHARS) return log;
  return {
    ...log,
    line: `${log.line.slice(0, MAX_LOG_LINE_CHARS)}... [${log.line.length - MAX_LOG_LINE_CHARS} characters cut]`,
  };
}

function tooLarge(value: unknown): boolean {
  return value !== undefined && (JSON.stringify(value)?.length ?? 0) > MAX_VALUE_CHARS;
}

function omitted(value: unknown): { omitted: string } {
  return { omitted: `${JSON.stringify(value)?.length ?? 0} characters, too large for an event; see "taskwarden show"` };
}

function fits(tasks: RecordedTask[]): boolean {
  return tryEncode({ type: 'SNAPSHOT', tasks }) !== undefined;
}

function tryEncode(message: object): string | undefined {
  try {
    return encodeMessage(message);
  } catch (error) {
    if (error instanceof MessageTooLargeError) return undefined;
    throw error;
  }
}

/**
 * A reply payload that fits in a line: large `input` and `result` values
 * anywhere in it are replaced by a note, task lists lose their oldest finished
 * tasks. Used for GET, LIST and HISTORY (LOGS trims its lines itself); LIST and
 * HISTORY (`tasks`) also get their envs abridged, GET keeps its task's whole.
 */
export function fitPayload(payload: Record<string, unknown>): Record<string, unknown> {
  if (Array.isArray(payload.tasks)) payload = { ...payload, tasks: (payload.tasks as RecordedTask[]).map(abridgeEnv) };
  if (tryEncode({ type: 'ACK', id: 0, ...payload }) !== undefined) return payload;
  const slim = slimDeep(payload) as Record<string, unknown>;
  if (Array.isArray(slim.tasks)) slim.tasks = fitTasks(slim.tasks as RecordedTask[]);
  return slim;
}

function slimDeep(value: unknown, key?: string): unknown {
  // A task's own values are kept whole or replaced whole: never rebuilt (a Date is no plain object).
  if (key === 'input' || key === 'result') return tooLarge(value) ? omitted(value) : value;
  if (Array.isArray(value)) return value.map((item) => slimDeep(item));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, slimDeep(v, k)]));
}
