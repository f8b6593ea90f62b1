/**
 * The journal: every task, attempt and state transition, in SQLite
 * (`journal.db` in the state directory), so nothing is lost when the daemon
 * dies and a new daemon can recover (see unfinished(), markInterrupted()).
 *
 * Synchronous by design (better-sqlite3): each call is one short transaction,
 * microseconds without fsync, and the daemon can rely on "recorded" meaning
 * "committed" when the call returns, before it broadcasts the change.
 */
import { closeSync, constants, fchmodSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { checkPrivateFileIfExists, ensurePrivateDir, openPrivateFile } from '../daemon/safe-fs.js';
import {
  ACTIVE_STATES,
  type Progress,
  type TaskOutcome,
  type TaskSnapshot,
  type TaskState,
} from '../supervisor/types.js';
import { RECORDED_TERMINAL_STATES, isFinishedState, type RecordedState, type RecordedTask } from './recorded-state.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { taskError } from '../common/task-errors.js';
import type { InterruptDetail, ListOptions, TaskRecord, UnfinishedTask } from './types.js';
import {
  SELECT_SNAPSHOT,
  attemptFromRow,
  snapshotFromRow,
  specToJson,
  toJson,
  valueToJson,
  transitionFromRow,
  type AttemptRow,
  type SnapshotRow,
  type TransitionRow,
} from './rows.js';

export const JOURNAL_FILE = 'journal.db';

export interface JournalOptions {
  /** How long a write waits for a lock held by another connection. Default 5000 ms. */
  busyTimeoutMs?: number;
}

export interface JournalSettings {
  journalMode: string;
  synchronous: string;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  schemaVersion: number;
}

const SYNCHRONOUS_NAMES = ['off', 'normal', 'full', 'extra'];

const ACTIVE_SQL = ACTIVE_STATES.map((state) => `'${state}'`).join(', ');
const TERMINAL_SQL = RECORDED_TERMINAL_STATES.map((state) => `'${state}'`).join(', ');

type Params = [Record<string, unknown>];

export class Journal {
  readonly path: string;
  readonly #db: Database;
  readonly #stmt: ReturnType<typeof prepareStatements>;
  /** Highest numeric task id handed out or seen: ids stay unique across daemon restarts. */
  #lastTaskNumber: number;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.#db = db;
    this.#stmt = prepareStatements(db);
    this.#lastTaskNumber = (this.#stmt.maxTaskNumber.get({}) as { n: number | null } | undefined)?.n ?? 0;
  }

  /**
   * Open (creating if needed) `journal.db` in dir. dir is created 0700 if
   * missing and must be private (see ensurePrivateDir); journal.db and its
   * -wal/-shm must be regular files of the current user, not symlinks, before
   * SQLite (which follows symlinks) opens them.
   */
  static open(dir: string, options: JournalOptions = {}): Journal {
    ensurePrivateDir(dir);
    const path = join(dir, JOURNAL_FILE);
    createPrivateFile(path);
    for (const suffix of ['-wal', '-shm']) checkPrivateFileIfExists(path + suffix);
    let db: Database | undefined;
    try {
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
      configure(db, options.busyTimeoutMs ?? 5000);
      migrate(db, path);
      restrictSidecars(path);
      return new Journal(path, db);
    } catch (error) {
      db?.close();
      throw new Error(`cannot open the journal ${path}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Open an existing journal for reading only (the CLI's history and show when no daemon runs):
   * nothing is created, migrated or written. Undefined when there is no journal in dir yet, or
   * when it has another schema version (a daemon migrates it; this reader does not).
   */
  static openReadOnly(dir: string, options: JournalOptions = {}): Journal | undefined {
    const path = join(dir, JOURNAL_FILE);
    try {
      lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    ensurePrivateDir(dir); // it exists: this checks it and creates nothing
    for (const suffix of ['', '-wal', '-shm']) checkPrivateFileIfExists(path + suffix);
    let db: Database | undefined;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
      if (db.pragma('user_version', { simple: true }) !== SCHEMA_VERSION) {
        db.close();
        return undefined;
      }
      return new Journal(path, db);
    } catch (error) {
      db?.close();
      throw new Error(`cannot read the journal ${path}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  /** A fresh task id ("1", "2", ...), greater than every numeric id in the journal. */
  nextTaskId(): string {
    this.#lastTaskNumber += 1;
    return String(this.#lastTaskNumber);
  }

  /** The highest numeric task id handed out or seen (0: none). */
  get lastTaskNumber(): number {
    return this.#lastTaskNumber;
  }

  /** Ids handed out from now on are greater than n (ids known from elsewhere, e.g. the logs of a lost journal). */
  continueTaskIdsAfter(n: number): void {
    this.#lastTaskNumber = Math.max(this.#lastTaskNumber, n);
  }

  /**
   * Record a new task (its creation transition included). A known task recorded again at a later
   * attempt runs again under its id: a transition from its recorded state says so
   * (`restartedFromJournal`). At the same attempt it only updates it.
   * `at`: when it happened (a write held while the journal could not be written goes in later).
   */
  recordTask(snapshot: TaskSnapshot, at: number = Date.now()): void {
    this.#noteId(snapshot.id);
    this.#tx(() => {
      const recorded = this.#stmt.stateOf.get({ id: snapshot.id }) as
        { state: RecordedState; attempt: number } | undefined;
      if (recorded) this.#stmt.updateTask.run(taskParams(snapshot, at));
      else this.#stmt.insertTask.run(taskParams(snapshot, at));
      this.#upsertAttempt(snapshot, at);
      if (!recorded) this.#appendTransition(snapshot, null, at, undefined);
      else if (recorded.attempt < snapshot.attempt)
        this.#appendTransition(snapshot, recorded.state, at, { restartedFromJournal: true });
    });
  }

  /**
   * Record a state change: updates the task and its current attempt and appends
   * a transition, in one transaction. Call it BEFORE broadcasting the change.
   * `endedAttempt`: the attempt before this one, which a restart ended (the
   * supervisor's state event says how), recorded with it.
   */
  recordTransition(
    snapshot: TaskSnapshot,
    previousState: TaskState | null,
    at: number = Date.now(),
    endedAttempt?: TaskOutcome,
  ): void {
    this.#noteId(snapshot.id);
    this.#tx(() => {
      if (this.#stmt.insertTask.run(taskParams(snapshot, at)).changes === 0) {
        this.#stmt.updateTask.run(taskParams(snapshot, at));
      }
      if (endedAttempt) this.#stmt.endAttempt.run(endedAttemptParams(snapshot.id, endedAttempt, at));
      this.#upsertAttempt(snapshot, at);
      this.#appendTransition(snapshot, previousState, at, undefined);
    });
  }

  /** Last progress of an attempt. Returns false when the task is unknown. Callers may throttle. */
  recordProgress(taskId: string, attempt: number, progress: Progress, at: number = Date.now()): boolean {
    const params = { taskId, attempt, fraction: progress.fraction, message: progress.message ?? null, at };
    return this.#stmt.upsertProgress.run(params).changes > 0;
  }

  /** The process of an attempt, for recovery's "same process?" check. Returns false when the task is unknown. */
  recordSpawn(
    taskId: string,
    attempt: number,
    pid: number,
    procStartTime: number | null,
    at: number = Date.now(),
  ): boolean {
    return this.#stmt.upsertSpawn.run({ taskId, attempt, pid, procStartTime, at }).changes > 0;
  }

  listTasks(options: ListOptions = {}): RecordedTask[] {
    const params = {
      all: options.includeFinished ? 1 : 0,
      limit: options.limit === undefined ? -1 : sqlLimit(options.limit),
    };
    return (this.#stmt.listTasks.all(params) as SnapshotRow[]).map(snapshotFromRow).reverse();
  }

  getTask(id: string): TaskRecord | undefined {
    const row = this.#stmt.getTask.get({ id }) as SnapshotRow | undefined;
    if (!row) return undefined;
    return {
      task: snapshotFromRow(row),
      attempts: (this.#stmt.attemptsOf.all({ id }) as AttemptRow[]).map(attemptFromRow),
      transitions: (this.#stmt.transitionsOf.all({ id }) as TransitionRow[]).map(transitionFromRow),
    };
  }

  /** Finished tasks, most recently ended first. */
  history(limit = 50): RecordedTask[] {
    return (this.#stmt.history.all({ limit: sqlLimit(limit) }) as SnapshotRow[]).map(snapshotFromRow);
  }

  /** Tasks the journal has in an active state, oldest first: after a daemon died, these need recovery. */
  unfinished(): UnfinishedTask[] {
    return (this.#stmt.unfinished.all({}) as SnapshotRow[]).map((row) => ({
      task: snapshotFromRow(row),
      pid: row.pid,
      procStartTime: row.proc_start_time,
    }));
  }

  /**
   * Mark an active task 'interrupted' (its daemon died), keeping its last
   * progress, with a transition carrying detail. Returns the new snapshot, or
   * undefined when the task is unknown or already finished.
   */
  markInterrupted(taskId: string, detail: InterruptDetail = {}): RecordedTask | undefined {
    return this.#tx(() => {
      const row = this.#stmt.getTask.get({ id: taskId }) as SnapshotRow | undefined;
      if (!row || isFinishedState(row.state)) return undefined;
      const at = Date.now();
      const error = taskError(
        'INTERRUPTED',
        detail.message ?? 'the daemon running this task exited before the task finished',
      );
      if (row.attempt >= 1) this.#stmt.interruptAttempt.run({ taskId, attempt: row.attempt, at, error: toJson(error) });
      this.#stmt.interruptTask.run({ taskId, at });
      this.#stmt.insertTransition.run({
        taskId,
        attempt: row.attempt,
        from: row.state,
        to: 'interrupted',
        at,
        detail: toJson(detail),
      });
      return snapshotFromRow(this.#stmt.getTask.get({ id: taskId }) as SnapshotRow);
    });
  }

  /** The connection's settings, for diagnostics and tests. */
  settings(): JournalSettings {
    const pragma = (name: string) => this.#db.pragma(name, { simple: true });
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: SYNCHRONOUS_NAMES[Number(pragma('synchronous'))] ?? String(pragma('synchronous')),
      busyTimeoutMs: Number(pragma('busy_timeout')),
      foreignKeys: pragma('foreign_keys') === 1,
      schemaVersion: Number(pragma('user_version')),
    };
  }

  /** Idempotent. The WAL is checkpointed by SQLite when the last connection closes. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #tx<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  #noteId(id: string): void {
    if (/^[1-9][0-9]{0,14}$/.test(id)) this.#lastTaskNumber = Math.max(this.#lastTaskNumber, Number(id));
  }

  #upsertAttempt(snapshot: TaskSnapshot, at: number): void {
    if (snapshot.attempt < 1) return;
    this.#stmt.upsertAttempt.run(attemptParams(snapshot, at));
  }

  #appendTransition(
    snapshot: TaskSnapshot,
    from: RecordedState | null,
    at: number,
    extra: Record<string, unknown> | undefined,
  ): void {
    const detail = { ...transitionDetail(snapshot), ...extra };
    this.#stmt.insertTransition.run({
      taskId: snapshot.id,
      attempt: snapshot.attempt,
      from,
      to: snapshot.state,
      at,
      detail: Object.keys(detail).length > 0 ? toJson(detail) : null,
    });
  }
}

/** A LIMIT that is never negative (SQLite reads a negative LIMIT as "no limit"). */
function sqlLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : -1;
}

/**
 * Create the file 0600 before SQLite opens it: SQLite gives the -wal and -shm
 * files the database file's mode, so they are never readable by others either.
 */
function createPrivateFile(path: string): void {
  restrictFile(path, constants.O_CREAT);
}

/** Belt and braces for -wal/-shm that an older version or another tool created. */
function restrictSidecars(path: string): void {
  for (const suffix of ['-wal', '-shm']) {
    checkPrivateFileIfExists(path + suffix);
    try {
      restrictFile(path + suffix, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** chmod 0600 through a descriptor opened without following symlinks (openPrivateFile). */
function restrictFile(path: string, create: number): void {
  const fd = openPrivateFile(path, constants.O_RDWR | create, 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

function configure(db: Database, busyTimeoutMs: number): void {
  // WAL: readers never block the writer and a commit is one append to the WAL file.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`could not switch to WAL mode (got ${String(mode)})`);
  // synchronous=NORMAL: in WAL mode a commit is not fsynced, only checkpoints are.
  // A crash of the daemon (even SIGKILL) loses nothing: committed pages are in
  // the OS page cache. Only a power loss or kernel crash can lose the last few
  // commits, and never corrupts the database. FULL would fsync on every
  // transition and progress update, milliseconds each on the daemon's event loop.
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.pragma('foreign_keys = ON');
}

function migrate(db: Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `${path} has schema version ${version}, newer than this taskwarden supports (${SCHEMA_VERSION}); ` +
        'use a newer taskwarden or another state directory (--home)',
    );
  }
  for (let from = version; from < SCHEMA_VERSION; from++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[from]!);
      db.pragma(`user_version = ${from + 1}`);
    })();
  }
}

function taskParams(snapshot: TaskSnapshot, at: number): Record<string, unknown> {
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

function attemptParams(snapshot: TaskSnapshot, at: number): Record<string, unknown> {
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
function endedAttemptParams(taskId: string, outcome: TaskOutcome, at: number): Record<string, unknown> {
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
function transitionDetail(snapshot: TaskSnapshot): Record<string, unknown> {
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

function prepareStatements(db: Database) {
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
