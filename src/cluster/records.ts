/**
 * The cluster's record of a task: one Redis hash per task id (keys.ts), written by the client that
 * submits it and by the agent that runs its current attempt (only under that attempt's BullMQ lock
 * token: scripts.ts), read by every watcher. Values (input, result) keep their structured-clone types
 * in the protocol's tagged encoding, as everywhere else in taskwarden.
 */
import { decodeValue, encodeValue, mapPayloadValues } from '../protocol/index.js';
import { type TaskOutcome, type TaskSpec } from '../supervisor/types.js';
import {
  isFinishedState,
  type RecordedOutcome,
  type RecordedTask,
  type RecordedState,
} from '../journal/recorded-state.js';

/** A task as the cluster sees it: a RecordedTask, plus where it runs and which BullMQ job carries it. */
export interface ClusterTaskSnapshot extends RecordedTask {
  /** The agent that runs (or last ran) the task. */
  host?: string;
  /** The BullMQ job of the current run (a restart of a finished task gets a new one). */
  jobId?: string;
}

/** The hash fields of a record; all strings, as Redis keeps them. */
export type RecordHash = Record<string, string>;

/** The fields of a new, queued task. `attempt` counts attempts that began: 0 until the first does. */
export function newRecordFields(task: {
  id: string;
  name: string;
  kind: 'module' | 'command';
  spec: TaskSpec;
  createdAt: number;
  jobId: string;
}): RecordHash {
  return {
    id: task.id,
    name: task.name,
    kind: task.kind,
    spec: JSON.stringify(encodeValue(task.spec)),
    state: 'queued',
    attempt: '0',
    createdAt: String(task.createdAt),
    jobId: task.jobId,
  };
}

/** The fields an agent writes from its local snapshot of the attempt it runs. */
export function snapshotFields(task: RecordedTask, host: string): RecordHash {
  const fields: RecordHash = { state: task.state, host };
  if (task.pid !== undefined) fields.pid = String(task.pid);
  if (task.startedAt !== undefined) fields.startedAt = String(task.startedAt);
  if (task.endedAt !== undefined) fields.endedAt = String(task.endedAt);
  if (task.progress !== undefined) fields.progress = JSON.stringify(task.progress);
  if (task.stopReason !== undefined) fields.stopReason = task.stopReason;
  if (task.outcome !== undefined) fields.outcome = JSON.stringify(encodeValue(task.outcome));
  return fields;
}

/** The fields that end a record: its final state, when, and the outcome. */
export function endFields(outcome: RecordedOutcome, endedAt: number): RecordHash {
  return {
    state: outcome.state,
    endedAt: String(endedAt),
    outcome: JSON.stringify(encodeValue(outcome)),
    ...(outcome.stopReason ? { stopReason: outcome.stopReason } : {}),
  };
}

/** The outcome of a task stopped before any attempt of it started (on an agent, or still queued). */
export function notStartedOutcome(taskId: string, reason: 'cancel' | 'kill' | 'stop-all'): TaskOutcome {
  const state = reason === 'kill' ? 'killed' : 'cancelled';
  return {
    state,
    stopReason: reason,
    durationMs: 0,
    attempt: 1,
    error: { name: 'NotStarted', message: `task ${taskId} was ${state} before it started`, code: 'NOT_STARTED' },
  };
}

/** Redis's HGETALL reply as a snapshot; undefined for a missing or half-written record. */
export function snapshotFromHash(hash: RecordHash): ClusterTaskSnapshot | undefined {
  if (!hash.id || !hash.spec || !hash.state) return undefined;
  const state = hash.state as RecordedState;
  const started = Number(hash.attempt ?? 0);
  const snapshot: ClusterTaskSnapshot = {
    id: hash.id,
    name: hash.name ?? hash.id,
    kind: hash.kind === 'command' ? 'command' : 'module',
    spec: decodeValue(JSON.parse(hash.spec), 'spec') as TaskSpec,
    state,
    // A queued task shows the attempt it is waiting to run.
    attempt: state === 'queued' ? started + 1 : Math.max(1, started),
    createdAt: Number(hash.createdAt),
  };
  if (hash.host) snapshot.host = hash.host;
  if (hash.jobId) snapshot.jobId = hash.jobId;
  if (hash.pid && !isFinishedState(state) && state !== 'queued') snapshot.pid = Number(hash.pid);
  if (hash.startedAt && state !== 'queued') snapshot.startedAt = Number(hash.startedAt);
  if (hash.endedAt && isFinishedState(state)) snapshot.endedAt = Number(hash.endedAt);
  if (hash.progress) snapshot.progress = JSON.parse(hash.progress) as RecordedTask['progress'];
  if (hash.stopReason) snapshot.stopReason = hash.stopReason as RecordedTask['stopReason'];
  if (hash.outcome && isFinishedState(state))
    snapshot.outcome = decodeValue(JSON.parse(hash.outcome), 'outcome') as RecordedOutcome;
  return snapshot;
}

/** An event for the events channel, its values in the tagged encoding. */
export function encodeEvent(event: Record<string, unknown>): string {
  return JSON.stringify(mapPayloadValues(event, (value) => encodeValue(value)));
}

export function decodeEvent(text: string): Record<string, unknown> {
  return mapPayloadValues(JSON.parse(text) as Record<string, unknown>, (value, field) => decodeValue(value, field));
}
