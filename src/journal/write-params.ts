/**
 * A task snapshot as the named parameters of the journal's writes (statements.ts): which of
 * its facts go in which column, and what a transition row keeps.
 */
import type { TaskOutcome, TaskSnapshot } from '../supervisor/types.js';
import { isFinishedState } from './recorded-state.js';
import { specToJson, toJson, valueToJson } from './rows.js';

export function taskParams(snapshot: TaskSnapshot, at: number): Record<string, unknown> {
  return {
    id: snapshot.id,
    name: snapshot.name,
    kind: snapshot.kind,
    spec: specToJson(snapshot.spec),
    state: snapshot.state,
    attempt: snapshot.attempt,
    createdAt: snapshot.createdAt,
    updatedAt: at,
    startedAt: snapshot.startedAt ?? null,
    endedAt: snapshot.endedAt ?? (isFinishedState(snapshot.state) ? at : null),
    stopReason: snapshot.stopReason ?? null,
  };
}

export function attemptParams(snapshot: TaskSnapshot, at: number): Record<string, unknown> {
  // The outcome belongs to this attempt only if it says so (a restarted task may still carry the old one).
  const outcome: TaskOutcome | undefined =
    snapshot.outcome?.attempt === snapshot.attempt ? snapshot.outcome : undefined;
  const terminal = isFinishedState(snapshot.state);
  return {
    taskId: snapshot.id,
    attempt: snapshot.attempt,
    state: snapshot.state,
    pid: snapshot.pid ?? null,
    // The attempt's own start is its spawn (recordSpawn, from the supervisor's 'spawned' event); else when it ran.
    startedAt: snapshot.startedAt ?? null,
    endedAt: terminal ? (snapshot.endedAt ?? at) : null,
    durationMs: outcome?.durationMs ?? null,
    exitCode: outcome?.exitCode ?? null,
    signal: outcome?.signal ?? null,
    error: toJson(outcome?.error),
    result: valueToJson(outcome?.result),
    fraction: snapshot.progress?.fraction ?? null,
    message: snapshot.progress?.message ?? null,
    progressAt: snapshot.progress ? at : null,
    stopReason: outcome?.stopReason ?? snapshot.stopReason ?? null,
    escalated: outcome?.escalated === undefined ? null : Number(outcome.escalated),
  };
}

/** The row of an attempt a restart ended, as its outcome says. */
export function endedAttemptParams(taskId: string, outcome: TaskOutcome, at: number): Record<string, unknown> {
  return {
    taskId,
    attempt: outcome.attempt,
    state: outcome.state,
    at,
    durationMs: outcome.durationMs,
    exitCode: outcome.exitCode ?? null,
    signal: outcome.signal ?? null,
    error: toJson(outcome.error),
    stopReason: outcome.stopReason ?? null,
    escalated: outcome.escalated === undefined ? null : Number(outcome.escalated),
  };
}

/** What a transition row keeps besides from/to: the facts a user asks "why?" about. */
export function transitionDetail(snapshot: TaskSnapshot): Record<string, unknown> {
  const detail: Record<string, unknown> = {};
  if (snapshot.pid !== undefined) detail.pid = snapshot.pid;
  if (snapshot.stopReason !== undefined) detail.stopReason = snapshot.stopReason;
  const outcome = snapshot.outcome;
  if (outcome && isFinishedState(snapshot.state)) {
    if (outcome.exitCode !== undefined) detail.exitCode = outcome.exitCode;
    if (outcome.signal !== undefined) detail.signal = outcome.signal;
    if (outcome.escalated !== undefined) detail.escalated = outcome.escalated;
    if (outcome.error)
      detail.error = { name: outcome.error.name, message: outcome.error.message, code: outcome.error.code };
  }
  return detail;
}
