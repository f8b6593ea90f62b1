/**
 * One attempt's log file as LogStore writes it, capped to keep the tail (two-file rotation).
 *
 * Lines wait in memory and go out in one append (open, write, close) per flush. When appending
 * would grow the file past half the cap, it is renamed to `<name>.1` (replacing the previous
 * one) and a new file starts: at most the cap is kept per attempt, and after a rotation at least
 * the last half. Rotation is one rename at a line boundary: no rewrite, nothing half-kept. A
 * failed write drops its lines and takes back a partly written line: the file keeps whole lines.
 * Only a file this store created is ever appended to.
 */
import { closeSync, constants, fchmodSync, lstatSync, renameSync, truncateSync } from 'node:fs';
import { openPrivateFile } from '../daemon/safe-fs.js';
import { asError, sizeIfExists, writeAll } from './log-files.js';
import { tailFrom } from './log-format.js';

/** What a write did: its lines went in, there was nothing to write, or they were dropped. */
export type LogWriteOutcome =
  { kind: 'written' } | { kind: 'nothing' } | { kind: 'failed'; error: Error; droppedLines: number };

export class AttemptLogFile {
  readonly path: string;
  readonly #maxBytes: number;
  /** Bytes this store wrote to the current file (not counting .1). */
  #size = 0;
  /** This store created the current file (false before the first write and after a rotation). */
  #created = false;
  #pending: string[] = [];
  #pendingBytes = 0;

  /**
   * The file of a new attempt log. Files already there belong to another run of this task id and
   * attempt (the journal lost its tasks and ids started again, or was replaced by an older copy):
   * they are set aside (and `report` told), so two runs never share a log.
   */
  static claim(path: string, maxBytes: number, report: (error: Error) => void): AttemptLogFile {
    setAside(path, report);
    return new AttemptLogFile(path, maxBytes);
  }

  private constructor(path: string, maxBytes: number) {
    this.path = path;
    this.#maxBytes = maxBytes;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Formatted lines (log-format.ts), written by the next write(). */
  queue(text: string): void {
    this.#pending.push(text);
    this.#pendingBytes += Buffer.byteLength(text);
  }

  /** Write the buffer, rotating first when it would pass half the cap. */
  write(): LogWriteOutcome {
    const half = Math.floor(this.#maxBytes / 2);
    let data = this.#pending.join('');
    let bytes = this.#pendingBytes;
    const lines = this.#pending.length;
    this.#pending = [];
    this.#pendingBytes = 0;
    try {
      if (bytes > half) {
        // More than half the cap in one batch: only its tail can be kept anyway.
        const kept = tailFrom(Buffer.from(data), half);
        data = kept.toString('utf8');
        bytes = kept.length;
      }
      if (this.#size > 0 && this.#size + bytes > half) {
        renameSync(this.path, `${this.path}.1`);
        this.#size = 0;
        this.#created = false;
      }
      if (bytes === 0) return { kind: 'nothing' };
      this.#append(Buffer.from(data));
      this.#size += bytes;
      return { kind: 'written' };
    } catch (error) {
      this.#takeBackPartialLine();
      return { kind: 'failed', error: asError(error), droppedLines: lines };
    }
  }

  /**
   * A new file is created with O_EXCL: only what this store created is ever appended to.
   * Never through a symlink (O_NOFOLLOW), never into a file another user owns.
   */
  #append(data: Buffer): void {
    const create = this.#created ? 0 : constants.O_CREAT | constants.O_EXCL;
    const fd = openPrivateFile(this.path, constants.O_WRONLY | constants.O_APPEND | create, 0o600);
    try {
      if (!this.#created) fchmodSync(fd, 0o600); // in case the umask took bits away from the owner
      this.#created = true;
      writeAll(fd, data);
    } finally {
      closeSync(fd);
    }
  }

  #takeBackPartialLine(): void {
    try {
      if (sizeIfExists(this.path) > this.#size) truncateSync(this.path, this.#size);
    } catch {
      // the next write appends after the partial line
      this.#size = sizeIfExists(this.path);
    }
  }
}

/** Renames an attempt's files left by another run (and a symlink in their place) to `<name>.orphaned-<ms>`. */
function setAside(path: string, report: (error: Error) => void): void {
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
      report(
        new Error(
          `${old} was left by an earlier task with the same id and attempt (was the journal emptied or replaced?); moved to ${aside} so two runs never share a log`,
        ),
      );
    } catch (error) {
      report(asError(error));
    }
  }
}
