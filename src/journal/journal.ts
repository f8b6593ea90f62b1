/**
 * The journal: every task, attempt and state transition, in SQLite
 * (`journal.db` in the state directory), so nothing is lost when the daemon
 * dies and a new daemon can recover (see unfinished(), markInterrupted()).
 *
 * Synchronous by design (better-sqlite3): each call is one short transaction,
 * microseconds without fsync, and the daemon can rely on "recorded" meaning
 * "committed" when the call returns, before it broadcasts the change.
 *
 * This class is the journal's API (records and queries); opening the file is
 * journal-file.ts, the SQL statements.ts, a snapshot's columns write-params.ts.
 */
import type Database from 'better-sqlite3';
import type { Progress, TaskOutcome, TaskSnapshot, TaskState } from '../supervisor/types.js';
import { isFinishedState, type RecordedState, type RecordedTask } from './recorded-state.js';
import { taskError } from '../common/task-errors.js';
import type { InterruptDetail, ListOptions, TaskRecord, UnfinishedTask } from './types.js';
import {
  attemptFromRow,
  snapshotFromRow,
  toJson,
  transitionFromRow,
  type AttemptRow,
  type SnapshotRow,
  type TransitionRow,
} from './rows.js';
import { openJournalDatabase, openJournalDatabaseReadOnly, type JournalOptions } from './journal-file.js';
import { prepareStatements, type JournalStatements } from './statements.js';
import { attemptParams, endedAttemptParams, taskParams, transitionDetail } from './write-params.js';

export interface JournalSettings {
  journalMode: string;
  synchronous: string;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  schemaVersion: number;
}

const SYNCHRONOUS_NAMES = ['off', 'normal', 'full', 'extra'];

export class Journal {
  readonly path: string;
  readonly #db: Database;
  readonly #stmt: JournalStatements;
  /** Highest numeric task id handed out or seen: ids stay unique across daemon restarts. */
  #lastTaskNumber: number;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.#db = db;
    this.#stmt = prepareStatements(db);
    this.#lastTaskNumber = (this.#stmt.maxTaskNumber.get({}) as { n: number | null } | undefined)?.n ?? 0;
  }

  /** Open (creating and migrating if needed) `journal.db` in dir; see openJournalDatabase. */
  static open(dir: string, options: JournalOptions = {}): Journal {
    const { path, db } = openJournalDatabase(dir, options);
    return new Journal(path, db);
  }

  /**
   * Open an existing journal for reading only (the CLI's history and show when no daemon runs);
   * undefined when there is none or it has another schema version (openJournalDatabaseReadOnly).
   */
  static openReadOnly(dir: string, options: JournalOptions = {}): Journal | undefined {
    const opened = openJournalDatabaseReadOnly(dir, options);
    return opened && new Journal(opened.path, opened.db);
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
