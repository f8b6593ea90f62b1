/** SQLite rows <-> the public types. NULL columns become absent (undefined) fields. */
import type { Progress, StopReason, TaskError, TaskSpec } from '../supervisor/types.js';
import { isFinishedState, type RecordedOutcome, type RecordedState, type RecordedTask } from './recorded-state.js';
import { decodeValue, encodeValue } from '../protocol/values.js';
import type { AttemptRecord, TransitionRecord } from './types.js';

/** A task joined with its current attempt: everything a TaskSnapshot needs. */
export const SELECT_SNAPSHOT = `
  SELECT t.id, t.name, t.kind, t.spec, t.state, t.attempt, t.created_at, t.started_at, t.ended_at, t.stop_reason,
    a.state AS a_state, a.pid, a.proc_start_time, a.duration_ms, a.started_at AS a_started_at, a.ended_at AS a_ended_at,
    a.exit_code, a.signal, a.error, a.result, a.progress_fraction, a.progress_message,
    a.stop_reason AS a_stop_reason, a.escalated
  FROM tasks t LEFT JOIN attempts a ON a.task_id = t.id AND a.attempt = t.attempt`;

export interface SnapshotRow {
  id: string;
  name: string;
  kind: 'module' | 'command';
  spec: string;
  state: RecordedState;
  attempt: number;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  stop_reason: StopReason | null;
  a_state: RecordedState | null;
  pid: number | null;
  proc_start_time: number | null;
  duration_ms: number | null;
  a_started_at: number | null;
  a_ended_at: number | null;
  exit_code: number | null;
  signal: NodeJS.Signals | null;
  error: string | null;
  result: string | null;
  progress_fraction: number | null;
  progress_message: string | null;
  a_stop_reason: StopReason | null;
  escalated: number | null;
}

export interface AttemptRow {
  task_id: string;
  attempt: number;
  state: RecordedState;
  pid: number | null;
  proc_start_time: number | null;
  started_at: number | null;
  ended_at: number | null;
  duration_ms: number | null;
  exit_code: number | null;
  signal: NodeJS.Signals | null;
  error: string | null;
  result: string | null;
  progress_fraction: number | null;
  progress_message: string | null;
  progress_at: number | null;
  stop_reason: StopReason | null;
  escalated: number | null;
}

export interface TransitionRow {
  seq: number;
  task_id: string;
  attempt: number;
  from_state: RecordedState | null;
  to_state: RecordedState;
  at: number;
  detail: string | null;
}

/**
 * JSON text for a column; NULL for undefined. A value JSON cannot hold (a
 * BigInt, a cycle) is stored as a note instead of failing the whole transaction.
 */
export function toJson(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    return JSON.stringify(value) ?? null;
  } catch (error) {
    return JSON.stringify({ unserializable: error instanceof Error ? error.message : String(error) });
  }
}

export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/**
 * A task's input or result for its column: JSON in the tagged encoding of protocol/values.ts, so a
 * Map, a Date, a BigInt or a typed array comes back as what it was (plain JSON values are unchanged).
 */
export function valueToJson(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    return toJson(encodeValue(value));
  } catch (error) {
    return JSON.stringify({ unserializable: error instanceof Error ? error.message : String(error) });
  }
}

/** The value a column holds; a row written before the encoding (plain JSON) reads as it was written. */
export function valueFromJson(text: string | null): unknown {
  const json = fromJson(text);
  try {
    return decodeValue(json);
  } catch {
    return json;
  }
}

/** A spec for its column: its input in the tagged encoding. */
export function specToJson(spec: TaskSpec): string | null {
  if (!('input' in spec) || spec.input === undefined) return toJson(spec);
  let input: unknown;
  try {
    input = encodeValue(spec.input);
  } catch (error) {
    input = { unserializable: error instanceof Error ? error.message : String(error) };
  }
  return toJson({ ...spec, input });
}

export function specFromJson(text: string): TaskSpec {
  const spec = JSON.parse(text) as TaskSpec;
  if (!('input' in spec) || spec.input === undefined) return spec;
  try {
    return { ...spec, input: decodeValue(spec.input) };
  } catch {
    return spec;
  }
}

export function snapshotFromRow(row: SnapshotRow): RecordedTask {
  const snapshot: RecordedTask = {
    id: row.id,
    name: row.name,
    kind: row.kind,
    spec: specFromJson(row.spec),
    state: row.state,
    attempt: row.attempt,
    createdAt: row.created_at,
  };
  if (row.pid !== null) snapshot.pid = row.pid;
  const progress = progressOf(row.progress_fraction, row.progress_message);
  if (progress) snapshot.progress = progress;
  if (row.started_at !== null) snapshot.startedAt = row.started_at;
  if (row.ended_at !== null) snapshot.endedAt = row.ended_at;
  if (row.stop_reason !== null) snapshot.stopReason = row.stop_reason;
  const outcome = outcomeOf(row);
  if (outcome) snapshot.outcome = outcome;
  return snapshot;
}

/** The outcome of a finished task, rebuilt from its last attempt's columns. */
function outcomeOf(row: SnapshotRow): RecordedOutcome | undefined {
  if (!isFinishedState(row.state) || row.a_state === null || row.attempt < 1) return undefined;
  const outcome: RecordedOutcome = {
    state: row.state,
    exitCode: row.exit_code,
    signal: row.signal,
    durationMs: row.duration_ms ?? elapsed(row.a_started_at, row.a_ended_at),
    attempt: row.attempt,
  };
  if (row.result !== null) outcome.result = valueFromJson(row.result);
  if (row.error !== null) outcome.error = fromJson(row.error) as TaskError;
  const stopReason = row.a_stop_reason ?? row.stop_reason;
  if (stopReason !== null) outcome.stopReason = stopReason;
  if (row.escalated !== null) outcome.escalated = row.escalated === 1;
  return outcome;
}

export function attemptFromRow(row: AttemptRow): AttemptRecord {
  const record: AttemptRecord = { attempt: row.attempt, state: row.state };
  if (row.pid !== null) record.pid = row.pid;
  if (row.proc_start_time !== null) record.procStartTime = row.proc_start_time;
  if (row.started_at !== null) record.startedAt = row.started_at;
  if (row.ended_at !== null) record.endedAt = row.ended_at;
  if (row.duration_ms !== null) record.durationMs = row.duration_ms;
  if (row.exit_code !== null) record.exitCode = row.exit_code;
  if (row.signal !== null) record.signal = row.signal;
  if (row.error !== null) record.error = fromJson(row.error) as TaskError;
  if (row.result !== null) record.result = valueFromJson(row.result);
  const progress = progressOf(row.progress_fraction, row.progress_message);
  if (progress) record.progress = progress;
  if (row.progress_at !== null) record.progressAt = row.progress_at;
  if (row.stop_reason !== null) record.stopReason = row.stop_reason;
  if (row.escalated !== null) record.escalated = row.escalated === 1;
  return record;
}

export function transitionFromRow(row: TransitionRow): TransitionRecord {
  const record: TransitionRecord = { attempt: row.attempt, from: row.from_state, to: row.to_state, at: row.at };
  if (row.detail !== null) record.detail = fromJson(row.detail) as Record<string, unknown>;
  return record;
}

function progressOf(fraction: number | null, message: string | null): Progress | undefined {
  if (fraction === null) return undefined;
  return message === null ? { fraction } : { fraction, message };
}

function elapsed(start: number | null, end: number | null): number {
  return start !== null && end !== null ? Math.max(0, end - start) : 0;
}
