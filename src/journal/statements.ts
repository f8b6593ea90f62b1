/**
 * The SQL of every journal read and write, prepared once per connection: the one place that
 * says which columns a write touches and how a later write merges with an earlier one.
 */
import type Database from 'better-sqlite3';
import { ACTIVE_STATES } from '../supervisor/types.js';
import { RECORDED_TERMINAL_STATES } from './recorded-state.js';
import { SELECT_SNAPSHOT } from './rows.js';

const ACTIVE_SQL = ACTIVE_STATES.map((state) => `'${state}'`).join(', ');
const TERMINAL_SQL = RECORDED_TERMINAL_STATES.map((state) => `'${state}'`).join(', ');

type Params = [Record<string, unknown>];

export type JournalStatements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database) {
  const prepare = (sql: string) => db.prepare<Params>(sql);
  return {
    maxTaskNumber: prepare(
      // Only ids that are plain decimal numbers count; others (if a caller uses them) cannot collide with "N".
      `SELECT MAX(CAST(id AS INTEGER)) AS n FROM tasks WHERE id NOT GLOB '*[^0-9]*' AND id NOT GLOB '0*' AND length(id) <= 15`,
    ),
    insertTask: prepare(`
      INSERT INTO tasks (id, name, kind, spec, state, attempt, created_at, updated_at, started_at, ended_at, stop_reason)
      VALUES (@id, @name, @kind, @spec, @state, @attempt, @createdAt, @updatedAt, @startedAt, @endedAt, @stopReason)
      ON CONFLICT (id) DO NOTHING`),
    updateTask: prepare(`
      UPDATE tasks SET name = @name, kind = @kind, spec = @spec, state = @state, attempt = @attempt,
        updated_at = @updatedAt, started_at = COALESCE(@startedAt, started_at),
        ended_at = CASE WHEN @state IN (${TERMINAL_SQL}) THEN @endedAt ELSE NULL END,
        stop_reason = @stopReason
      WHERE id = @id`),
    stateOf: prepare(`SELECT state, attempt FROM tasks WHERE id = @id`),
    endAttempt: prepare(`
      UPDATE attempts SET state = @state, ended_at = COALESCE(ended_at, @at), duration_ms = @durationMs,
        exit_code = @exitCode, signal = @signal, error = COALESCE(@error, error),
        stop_reason = COALESCE(@stopReason, stop_reason), escalated = @escalated
      WHERE task_id = @taskId AND attempt = @attempt`),
    upsertAttempt: prepare(`
      INSERT INTO attempts (task_id, attempt, state, pid, started_at, ended_at, duration_ms, exit_code, signal, error, result,
        progress_fraction, progress_message, progress_at, stop_reason, escalated)
      VALUES (@taskId, @attempt, @state, @pid, @startedAt, @endedAt, @durationMs, @exitCode, @signal, @error, @result,
        @fraction, @message, @progressAt, @stopReason, @escalated)
      ON CONFLICT (task_id, attempt) DO UPDATE SET
        state = excluded.state,
        pid = COALESCE(excluded.pid, pid),
        started_at = COALESCE(started_at, excluded.started_at),
        ended_at = COALESCE(excluded.ended_at, ended_at),
        duration_ms = COALESCE(excluded.duration_ms, duration_ms),
        exit_code = COALESCE(excluded.exit_code, exit_code),
        signal = COALESCE(excluded.signal, signal),
        error = COALESCE(excluded.error, error),
        result = COALESCE(excluded.result, result),
        progress_fraction = COALESCE(excluded.progress_fraction, progress_fraction),
        progress_message = CASE WHEN excluded.progress_fraction IS NULL THEN progress_message ELSE excluded.progress_message END,
        progress_at = COALESCE(excluded.progress_at, progress_at),
        stop_reason = COALESCE(excluded.stop_reason, stop_reason),
        escalated = COALESCE(excluded.escalated, escalated)`),
    // INSERT ... SELECT so progress for an unknown task is a no-op, not a foreign-key error.
    upsertProgress: prepare(`
      INSERT INTO attempts (task_id, attempt, state, progress_fraction, progress_message, progress_at)
      SELECT id, @attempt, state, @fraction, @message, @at FROM tasks WHERE id = @taskId
      ON CONFLICT (task_id, attempt) DO UPDATE SET
        progress_fraction = excluded.progress_fraction, progress_message = excluded.progress_message,
        progress_at = excluded.progress_at`),
    upsertSpawn: prepare(`
      INSERT INTO attempts (task_id, attempt, state, pid, proc_start_time, started_at)
      SELECT id, @attempt, state, @pid, @procStartTime, @at FROM tasks WHERE id = @taskId
      ON CONFLICT (task_id, attempt) DO UPDATE SET
        pid = excluded.pid, proc_start_time = excluded.proc_start_time,
        started_at = COALESCE(started_at, excluded.started_at)`),
    insertTransition: prepare(`
      INSERT INTO transitions (task_id, attempt, from_state, to_state, at, detail)
      VALUES (@taskId, @attempt, @from, @to, @at, @detail)`),
    interruptAttempt: prepare(`
      INSERT INTO attempts (task_id, attempt, state, ended_at, error) VALUES (@taskId, @attempt, 'interrupted', @at, @error)
      ON CONFLICT (task_id, attempt) DO UPDATE SET state = 'interrupted', ended_at = @at, error = @error,
        duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE MAX(0, @at - started_at) END`),
    interruptTask: prepare(`
      UPDATE tasks SET state = 'interrupted', ended_at = @at, updated_at = @at WHERE id = @taskId`),
    getTask: prepare(`${SELECT_SNAPSHOT} WHERE t.id = @id`),
    listTasks: prepare(`
      ${SELECT_SNAPSHOT} WHERE @all = 1 OR t.state IN (${ACTIVE_SQL}) ORDER BY t.row DESC LIMIT @limit`),
    history: prepare(`
      ${SELECT_SNAPSHOT} WHERE t.state IN (${TERMINAL_SQL}) ORDER BY t.ended_at DESC, t.row DESC LIMIT @limit`),
    unfinished: prepare(`${SELECT_SNAPSHOT} WHERE t.state IN (${ACTIVE_SQL}) ORDER BY t.row`),
    attemptsOf: prepare(`SELECT * FROM attempts WHERE task_id = @id ORDER BY attempt`),
    transitionsOf: prepare(`SELECT * FROM transitions WHERE task_id = @id ORDER BY seq`),
  };
}
