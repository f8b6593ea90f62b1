/**
 * Per-attempt log files: `<stateDir>/logs/<taskId>.<attempt>.log` (dir 0700,
 * files 0600), in the line format of log-format.ts, each capped to keep its
 * tail (attempt-log-file.ts).
 *
 * This store holds the open attempt files and flushes them: appends are
 * buffered in memory and written with one append per file per flush (every
 * flushIntervalMs, or at once when a file's buffer reaches flushBytes), so the
 * daemon's event loop never waits on more than one small write per file. Call
 * flush() or close() before exiting. It reads logs back (read, follow with
 * log-follower.ts) and says whether writes work (log-write-health.ts).
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ensurePrivateDir, ensurePrivateSubdir } from '../daemon/safe-fs.js';
import type { LogLine } from '../supervisor/types.js';
import { TASK_ID_RULE, isTaskId } from '../common/task-id.js';
import { AttemptLogFile } from './attempt-log-file.js';
import { asError, readIfExists } from './log-files.js';
import { LogFollower, type FollowOptions } from './log-follower.js';
import { formatLine, parseLines, tailFrom, type StoredLogLine } from './log-format.js';
import { LogWriteHealth, type LogRecovery, type LogStoreHealth } from './log-write-health.js';

export const LOGS_DIR = 'logs';
export const DEFAULT_MAX_LOG_BYTES = 1024 * 1024;

export interface LogStoreOptions {
  /** Bytes kept per attempt (both files together). Default 1 MiB. */
  maxBytesPerAttempt?: number;
  /** Longest stored line in bytes; longer ones are cut. Default 64 KiB, at most a quarter of maxBytesPerAttempt. */
  maxLineBytes?: number;
  /** How long appended lines may wait in memory. Default 100 ms. */
  flushIntervalMs?: number;
  /** A file's buffer is written at once when it reaches this size. Default 64 KiB. */
  flushBytes?: number;
  /**
   * Write errors (disk full, directory removed) go here, the first of a run of failures only
   * (the lines of failed writes are dropped and counted; see health()); the daemon must not
   * crash on them, and nothing this throws leaves the store. Default: stderr, once.
   */
  onError?: (error: Error) => void;
  /**
   * Writing works again after failures (a write succeeded and none failed for 2 s: on a nearly
   * full disk one file may still grow into its last page while others fail): how many lines were
   * dropped since when.
   */
  onRecover?: (info: LogRecovery) => void;
}

export interface LogReadResult {
  /** The attempt read; null when the task has no log. */
  attempt: number | null;
  lines: StoredLogLine[];
}

export class LogStore {
  readonly dir: string;
  readonly maxBytesPerAttempt: number;
  readonly #maxLineBytes: number;
  readonly #flushIntervalMs: number;
  readonly #flushBytes: number;
  readonly #onError: (error: Error) => void;
  readonly #health: LogWriteHealth;
  readonly #files = new Map<string, AttemptLogFile>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(stateDir: string, options: LogStoreOptions = {}) {
    this.dir = join(stateDir, LOGS_DIR);
    this.maxBytesPerAttempt = options.maxBytesPerAttempt ?? DEFAULT_MAX_LOG_BYTES;
    // A line must fit in half the cap, or a rotation could not keep it.
    this.#maxLineBytes = Math.min(options.maxLineBytes ?? 64 * 1024, Math.floor(this.maxBytesPerAttempt / 4));
    this.#flushIntervalMs = options.flushIntervalMs ?? 100;
    this.#flushBytes = options.flushBytes ?? 64 * 1024;
    const onError = options.onError ?? warnOnce();
    this.#onError = (error) => {
      try {
        onError(error);
      } catch {
        // a reporter that fails (its own disk is full) must not make appends throw
      }
    };
    this.#health = new LogWriteHealth(this.#onError, options.onRecover);
    if (!(this.maxBytesPerAttempt >= 1024) || !(this.#maxLineBytes >= 1)) {
      throw new RangeError(`maxBytesPerAttempt must be at least 1024 and maxLineBytes positive`);
    }
    // Private (see safe-fs.ts): created 0700; an existing one is checked, never chmodded or followed.
    ensurePrivateDir(stateDir);
    ensurePrivateSubdir(this.dir);
  }

  health(): LogStoreHealth {
    return this.#health.get();
  }

  /** Path of an attempt's current log file (`.1` next to it holds the older half). */
  pathOf(taskId: string, attempt: number): string {
    checkTaskId(taskId);
    if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`invalid attempt ${attempt}`);
    return join(this.dir, `${taskId}.${attempt}.log`);
  }

  /** Queue a line; written within flushIntervalMs. Never throws (errors go to onError). */
  append(log: LogLine): void {
    if (this.#closed) return;
    try {
      const file = this.#file(log.taskId, log.attempt);
      const text = formatLine(log.stream, log.line, this.#maxLineBytes);
      file.queue(text);
      if (file.pendingBytes >= this.#flushBytes) this.#write(file);
      else this.#schedule();
    } catch (error) {
      this.#onError(asError(error));
    }
  }

  /** Write everything buffered now. */
  flush(): void {
    for (const file of this.#files.values()) {
      if (file.pendingBytes > 0) this.#write(file);
    }
  }

  /** Flush and stop; later appends are ignored. */
  close(): void {
    this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    this.#files.clear();
  }

  /** Attempt numbers that have a log (on disk or still buffered here), ascending. */
  attempts(taskId: string): number[] {
    checkTaskId(taskId);
    const pattern = new RegExp(`^${taskId}\\.(\\d+)\\.log$`);
    const found = new Set<number>();
    const names = [...readdirSync(this.dir), ...[...this.#files.values()].map((file) => basename(file.path))];
    for (const name of names) {
      const match = pattern.exec(name.replace(/\.1$/, ''));
      if (match) found.add(Number(match[1]));
    }
    return [...found].sort((a, b) => a - b);
  }

  /**
   * The highest plain numeric task id ("1", "2", ...) that has a log file here
   * (set-aside ones included), 0 if none: ids handed out later must be higher,
   * or a new task would take the id, and the logs, of an old one.
   */
  highestTaskNumber(): number {
    let highest = 0;
    for (const name of readdirSync(this.dir)) {
      const match = /^([1-9][0-9]{0,14})\.\d+\.log(?:$|\.)/.exec(name);
      if (match) highest = Math.max(highest, Number(match[1]));
    }
    return highest;
  }

  /**
   * The kept log of an attempt (default: the latest), oldest line first. With
   * tailBytes, only the last tailBytes of the file content, from the first
   * whole line in them.
   */
  read(taskId: string, attempt?: number, tailBytes?: number): LogReadResult {
    const chosen = attempt ?? this.attempts(taskId).at(-1);
    if (chosen === undefined) return { attempt: null, lines: [] };
    const path = this.pathOf(taskId, chosen);
    this.#flushPath(path);
    let content: Buffer = Buffer.concat([readIfExists(`${path}.1`), readIfExists(path)]);
    if (tailBytes !== undefined && content.length > tailBytes) content = tailFrom(content, tailBytes);
    return { attempt: chosen, lines: parseLines(content) };
  }

  /**
   * Call onLine for each line of an attempt's log (see FollowOptions.fromStart)
   * and for every line appended later, until the returned function is called.
   * Works from any process: it reads the files, not this store's memory. The
   * file need not exist yet. Lines this store still buffers appear after its flush.
   * onLine is first called on a later tick, never during follow(); it should not
   * throw (an exception goes to onError and the rest of that read is skipped).
   * A follower that falls more than half the cap behind misses what was rotated away.
   */
  follow(
    taskId: string,
    attempt: number,
    onLine: (line: StoredLogLine) => void,
    options: FollowOptions = {},
  ): () => void {
    const follower = new LogFollower(this.pathOf(taskId, attempt), onLine, options, options.onError ?? this.#onError);
    return () => follower.stop();
  }

  #file(taskId: string, attempt: number): AttemptLogFile {
    const key = `${taskId}.${attempt}`;
    let file = this.#files.get(key);
    if (!file) {
      file = AttemptLogFile.claim(this.pathOf(taskId, attempt), this.maxBytesPerAttempt, this.#onError);
      this.#files.set(key, file);
    }
    return file;
  }

  #flushPath(path: string): void {
    for (const file of this.#files.values()) {
      if (file.path === path && file.pendingBytes > 0) this.#write(file);
    }
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#flushIntervalMs);
    // The store must not keep a finished process alive; the daemon flushes on shutdown.
    this.#timer.unref();
  }

  #write(file: AttemptLogFile): void {
    const outcome = file.write();
    if (outcome.kind === 'written') this.#health.succeeded();
    else if (outcome.kind === 'failed') this.#health.failed(outcome.error, outcome.droppedLines);
  }
}

function checkTaskId(taskId: string): void {
  // Also what keeps a task id from naming a path outside the logs directory.
  if (!isTaskId(taskId)) throw new RangeError(`invalid task id ${JSON.stringify(taskId)} (${TASK_ID_RULE})`);
}

function warnOnce(): (error: Error) => void {
  let warned = false;
  return (error) => {
    if (warned) return;
    warned = true;
    process.stderr.write(`taskwarden: cannot write a task log: ${error.message}\n`);
  };
}
