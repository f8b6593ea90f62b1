/**
 * Following one attempt's log file as it grows, from any process: it reads the files, not a
 * LogStore's memory. It polls (default every 200 ms) instead of using fs.watch: fs.watch
 * coalesces and drops events, misses renames on some file systems and does not work on network
 * mounts; a poll of an open descriptor is cheap and always right. It survives rotation (the
 * renamed file is drained through its open descriptor), and a follower that falls more than half
 * the cap behind misses what was rotated away.
 */
import { closeSync, constants, fstatSync, lstatSync, readSync } from 'node:fs';
import { openPrivateFile } from '../daemon/safe-fs.js';
import { asError, readIfExists } from './log-files.js';
import { parseLines, type StoredLogLine } from './log-format.js';

export interface FollowOptions {
  /** Deliver what the log already holds first (default true); false: only lines appended from now on. */
  fromStart?: boolean;
  /** Poll interval. Default 200 ms. */
  intervalMs?: number;
  onError?: (error: Error) => void;
}

/** A follower holds at most this much of an unterminated line before delivering it as is. */
const MAX_PARTIAL_BYTES = 1024 * 1024;

/** Polls one attempt's log file; survives rotation (drains the renamed file through its open descriptor). */
export class LogFollower {
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
