/**
 * Per-attempt log files: `<stateDir>/logs/<taskId>.<attempt>.log` (dir 0700,
 * files 0600).
 *
 * Format: one line per output line, prefixed with its stream:
 *   [stdout] text
 *   [stderr] text
 * Text containing newlines is split into several lines; a line longer than
 * maxLineBytes is cut and ends with "... [N bytes cut]".
 *
 * Size cap, keeping the tail (two-file rotation): when appending would grow the
 * current file past half the cap, it is renamed to `<taskId>.<attempt>.log.1`
 * (replacing the previous one) and a new file starts. So at most `maxBytes`
 * are kept per attempt, and after a rotation at least the last half. Rotation
 * is one rename at a line boundary: no rewrite, nothing half-kept.
 *
 * Appends are buffered in memory and written with one append (open, write, close) per file
 * per flush (every flushIntervalMs, or at once when a file's buffer reaches
 * flushBytes), so the daemon's event loop never waits on more than one small
 * write per file. Call flush() or close() before exiting.
 *
 * follow() polls (default every 200 ms) instead of using fs.watch: fs.watch
 * coalesces and drops events, misses renames on some file systems and does not
 * work on network mounts; a poll of an open descriptor is cheap and always right.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { ensurePrivateDir, ensurePrivateSubdir, openPrivateFile } from '../daemon/safe-fs.js';
import type { LogLine } from '../supervisor/types.js';
import { TASK_ID_RULE, isTaskId } from '../common/task-id.js';

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
  onRecover?: (info: { since: number; droppedLines: number; error: Error }) => void;
}

/** Whether log writes work; while they fail, since when, why, and the lines dropped so far. */
export interface LogStoreHealth {
  writable: boolean;
  failingSince?: number;
  error?: Error;
  droppedLines: number;
}

export type LogStream = LogLine['stream'];

export interface StoredLogLine {
  stream: LogStream;
  line: string;
}

export interface LogReadResult {
  /** The attempt read; null when the task has no log. */
  attempt: number | null;
  lines: StoredLogLine[];
}

export interface FollowOptions {
  /** Deliver what the log already holds first (default true); false: only lines appended from now on. */
  fromStart?: boolean;
  /** Poll interval. Default 200 ms. */
  intervalMs?: number;
  onError?: (error: Error) => void;
}

/** A follower holds at most this much of an unterminated line before delivering it as is. */
const MAX_PARTIAL_BYTES = 1024 * 1024;
/** Log writes count as working again once one succeeds this long after the last failure. */
const RECOVERED_AFTER_MS = 2000;
const PREFIX: Record<LogStream, string> = { stdout: '[stdout] ', stderr: '[stderr] ' };

interface OpenFile {
  path: string;
  /** Bytes this store wrote to the current file (not counting .1). */
  size: number;
  /** This store created the current file (false before the first write and after a rotation). */
  created: boolean;
  pending: string[];
  pendingBytes: number;
}

export class LogStore {
  readonly dir: string;
  readonly maxBytesPerAttempt: number;
  readonly #maxLineBytes: number;
  readonly #flushIntervalMs: number;
  readonly #flushBytes: number;
  readonly #onError: (error: Error) => void;
  readonly #onRecover: LogStoreOptions['onRecover'];
  #failing: { since: number; error: Error; droppedLines: number; lastAt: number } | undefined;
  readonly #files = new Map<string, OpenFile>();
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
    this.#onRecover = options.onRecover;
    if (!(this.maxBytesPerAttempt >= 1024) || !(this.#maxLineBytes >= 1)) {
      throw new RangeError(`maxBytesPerAttempt must be at least 1024 and maxLineBytes positive`);
    }
    // Private (see safe-fs.ts): created 0700; an existing one is checked, never chmodded or followed.
    ensurePrivateDir(stateDir);
    ensurePrivateSubdir(this.dir);
  }

  health(): LogStoreHealth {
    const failing = this.#failing;
    return failing
      ? { writable: false, failingSince: failing.since, error: failing.error, droppedLines: failing.droppedLines }
      : { writable: true, droppedLines: 0 };
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
      file.pending.push(text);
      file.pendingBytes += Buffer.byteLength(text);
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
    const follower = new Follower(this.pathOf(taskId, attempt), onLine, options, options.onError ?? this.#onError);
    return () => follower.stop();
  }

  #file(taskId: string, attempt: number): OpenFile {
    const key = `${taskId}.${attempt}`;
    let file = this.#files.get(key);
    if (!file) {
      const path = this.pathOf(taskId, attempt);
      file = { path, size: 0, created: false, pending: [], pendingBytes: 0 };
      this.#files.set(key, file);
      // Files already there belong to another run of this task id and attempt (the journal lost
      // its tasks and ids started again, or was replaced by an older copy): never mix two runs.
      this.#setAside(path);
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

  /** Write a file's buffer, rotating first when it would pass half the cap. */
  #write(file: OpenFile): void {
    const half = Math.floor(this.maxBytesPerAttempt / 2);
    let data = file.pending.join('');
    let bytes = file.pendingBytes;
    const lines = file.pending.length;
    file.pending = [];
    file.pendingBytes = 0;
    try {
      if (bytes > half) {
        // More than half the cap in one batch: only its tail can be kept anyway.
        const kept = tailFrom(Buffer.from(data), half);
        data = kept.toString('utf8');
        bytes = kept.length;
      }
      if (file.size > 0 && file.size + bytes > half) {
        renameSync(file.path, `${file.path}.1`);
        file.size = 0;
        file.created = false;
      }
      if (bytes === 0) return;
      // A new file is created with O_EXCL: only what this store created is ever appended to.
      // Never through a symlink (O_NOFOLLOW), never into a file another user owns.
      const create = file.created ? 0 : constants.O_CREAT | constants.O_EXCL;
      const fd = openPrivateFile(file.path, constants.O_WRONLY | constants.O_APPEND | create, 0o600);
      try {
        if (!file.created) fchmodSync(fd, 0o600); // in case the umask took bits away from the owner
        file.created = true;
        writeAll(fd, Buffer.from(data));
      } finally {
        closeSync(fd);
      }
      file.size += bytes;
      if (this.#failing) this.#recovered();
    } catch (error) {
      this.#failed(file, asError(error), lines);
    }
  }

  /** The lines of a failed write are dropped, and a partly written line is taken back: the file keeps whole lines. */
  #failed(file: OpenFile, error: Error, lines: number): void {
    try {
      if (sizeIfExists(file.path) > file.size) truncateSync(file.path, file.size);
    } catch {
      // the next write appends after the partial line
      file.size = sizeIfExists(file.path);
    }
    if (this.#failing) {
      this.#failing.droppedLines += lines;
      this.#failing.error = error;
      this.#failing.lastAt = Date.now();
      return;
    }
    this.#failing = { since: Date.now(), error, droppedLines: lines, lastAt: Date.now() };
    this.#onError(error);
  }

  #recovered(): void {
    const failing = this.#failing!;
    if (Date.now() - failing.lastAt < RECOVERED_AFTER_MS) return;
    this.#failing = undefined;
    try {
      this.#onRecover?.({ since: failing.since, droppedLines: failing.droppedLines, error: failing.error });
    } catch {
      // as for onError
    }
  }

  /** Renames an attempt's files left by another run (and a symlink in their place) to `<name>.orphaned-<ms>`. */
  #setAside(path: string): void {
    const at = Date.now();
    for (const old of [path, `${path}.1`]) {
      try {
        lstatSync(old);
      } catch {
        continue;
      }
      const aside = `${old}.orphaned-${at}`;
      try {
        renameSync(old, aside);
        this.#onError(
          new Error(
            `${old} was left by an earlier task with the same id and attempt (was the journal emptied or replaced?); moved to ${aside} so two runs never share a log`,
          ),
        );
      } catch (error) {
        this.#onError(asError(error));
      }
    }
  }
}

/** Polls one attempt's log file; survives rotation (drains the renamed file through its open descriptor). */
class Follower {
  #fd: number | null = null;
  #ino = 0;
  #offset = 0;
  #rest: Buffer = Buffer.alloc(0);
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Until the first poll that finds the file: deliver the rotated-out half first. */
  #fromStart: boolean;
  readonly #interval: number;
  readonly #buffer = Buffer.alloc(64 * 1024);

  constructor(
    readonly path: string,
    readonly onLine: (line: StoredLogLine) => void,
    options: FollowOptions,
    readonly onError: (error: Error) => void,
  ) {
    this.#interval = options.intervalMs ?? 200;
    this.#fromStart = options.fromStart ?? true;
    // Attach now, so "from now on" means the moment of the call; deliver from the
    // first tick on, so the caller holds the stop function before any onLine.
    if (this.#open() && !this.#fromStart) this.#offset = fstatSync(this.#fd!).size;
    this.#timer = setTimeout(() => this.#tick(), 0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }

  #tick(): void {
    if (this.#stopped) return;
    try {
      this.#poll();
    } catch (error) {
      this.onError(asError(error));
    }
    if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), this.#interval);
  }

  #poll(): void {
    if (this.#fd === null && !this.#open()) return;
    if (this.#fromStart) {
      this.#fromStart = false;
      this.#emitOlderHalf();
    }
    this.#drain();
    if (!this.#stopped && this.#rotated()) {
      // Everything written to the old file is in it already (the writer renames between whole writes).
      this.#drain();
      if (this.#stopped) return;
      closeSync(this.#fd!);
      this.#fd = null;
      this.#offset = 0;
      this.#rest = Buffer.alloc(0);
      if (this.#open()) this.#drain();
    }
  }

  #open(): boolean {
    try {
      this.#fd = openPrivateFile(this.path, constants.O_RDONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    this.#ino = fstatSync(this.#fd).ino;
    this.#offset = 0;
    return true;
  }

  /** At attach: the rotated-out half, unless it is the very file just opened (a rotation in between). */
  #emitOlderHalf(): void {
    const older = `${this.path}.1`;
    try {
      if (lstatSync(older).ino === this.#ino) return;
    } catch {
      return;
    }
    this.#emit(readIfExists(older), true);
  }

  #drain(): void {
    // onLine may call stop(), which closes the descriptor: check before every read.
    while (!this.#stopped && this.#fd !== null) {
      const n = readSync(this.#fd, this.#buffer, 0, this.#buffer.length, this.#offset);
      if (n === 0) return;
      this.#offset += n;
      this.#emit(this.#buffer.subarray(0, n), false);
    }
  }

  #rotated(): boolean {
    try {
      return lstatSync(this.path).ino !== this.#ino;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw error;
    }
  }

  /** Deliver complete lines; keep a partial last line for the next read. */
  #emit(chunk: Buffer, wholeFile: boolean): void {
    const data = wholeFile ? chunk : Buffer.concat([this.#rest, chunk]);
    // A file without newlines (not written by LogStore) must not grow the rest without bound.
    const end = data.length > MAX_PARTIAL_BYTES ? data.length : data.lastIndexOf(0x0a) + 1;
    if (!wholeFile) this.#rest = Buffer.from(data.subarray(end));
    for (const line of parseLines(data.subarray(0, end))) {
      if (this.#stopped) return;
      this.onLine(line);
    }
  }
}

function formatLine(stream: LogStream, text: string, maxLineBytes: number): string {
  return text
    .split(/\r?\n/)
    .map((part) => `${PREFIX[stream]}${cut(part, maxLineBytes)}\n`)
    .join('');
}

function cut(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  // toString may end in U+FFFD where the cut splits a character; acceptable for a marked cut.
  return `${Buffer.from(text).subarray(0, maxBytes).toString('utf8')}... [${bytes - maxBytes} bytes cut]`;
}

/** Parse stored text; a line without a known prefix (a file edited by hand) counts as stdout. */
export function parseLines(content: Buffer): StoredLogLine[] {
  const text = content.toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => {
    if (line.startsWith(PREFIX.stderr)) return { stream: 'stderr', line: line.slice(PREFIX.stderr.length) };
    if (line.startsWith(PREFIX.stdout)) return { stream: 'stdout', line: line.slice(PREFIX.stdout.length) };
    return { stream: 'stdout', line };
  });
}

/** The last `bytes` of content, starting at a line boundary. */
function tailFrom(content: Buffer, bytes: number): Buffer {
  if (content.length <= bytes) return content;
  const start = content.length - bytes;
  if (content[start - 1] === 0x0a) return content.subarray(start);
  const newline = content.indexOf(0x0a, start);
  return newline === -1 ? Buffer.alloc(0) : content.subarray(newline + 1);
}

function checkTaskId(taskId: string): void {
  // Also what keeps a task id from naming a path outside the logs directory.
  if (!isTaskId(taskId)) throw new RangeError(`invalid task id ${JSON.stringify(taskId)} (${TASK_ID_RULE})`);
}

/** A log file's content; never read through a symlink (see openPrivateFile). */
function readIfExists(path: string): Buffer {
  try {
    const fd = openPrivateFile(path, constants.O_RDONLY);
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
}

function writeAll(fd: number, data: Buffer): void {
  for (let offset = 0; offset < data.length;) offset += writeSync(fd, data, offset);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function warnOnce(): (error: Error) => void {
  let warned = false;
  return (error) => {
    if (warned) return;
    warned = true;
    process.stderr.write(`taskwarden: cannot write a task log: ${error.message}\n`);
  };
}

/** Size of a log file, 0 when it is not there (never follows a symlink). */
function sizeIfExists(path: string): number {
  try {
    return lstatSync(path).size;
  } catch {
    return 0;
  }
}
