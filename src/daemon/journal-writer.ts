/**
 * Every journal write of the daemon goes through here, so that what a client has
 * seen, the journal has, even when the journal cannot be written for a while (a
 * full disk, a file made immutable or read-only).
 *
 * A write that fails for such a reason is held in memory, in order, with every
 * write after it, and retried: on a timer with backoff, and before each new
 * write. The daemon meanwhile carries on (events are broadcast, stops never wait
 * on a disk) and reports the journal as behind (health()); once a retry succeeds
 * the held writes go in, in their order, and the journal is whole again.
 *
 * A write that fails for any other reason (a bug, a constraint) would fail the
 * same way forever: it is logged and dropped, as holding it would stall every
 * write after it.
 *
 * Held progress writes of a task coalesce (the newest value replaces a held one
 * when nothing else of that task was held after it), so a long outage holds
 * about one write per task state change, not one per progress report.
 */

export interface JournalHealth {
  writable: boolean;
  /** When the first write of the current outage failed. */
  failingSince?: number;
  /** Short cause: ENOSPC (SQLite's SQLITE_FULL), SQLITE_IOERR_WRITE, SQLITE_READONLY, ... */
  cause?: string;
  /** The last failure's message. */
  message?: string;
  /** Writes held in memory, waiting for the journal. */
  held: number;
}

export interface JournalWriterOptions {
  log: (message: string) => void;
  /** Called when the journal becomes unwritable, when it is written again, and when the cause changes. */
  onChange: () => void;
  /** First retry delay; doubled after each failed retry up to retryMaxMs. Default 200 ms. */
  retryMinMs?: number;
  /** Default 5000 ms. */
  retryMaxMs?: number;
}

export interface WriteOptions {
  /** The task the write is about (to coalesce its progress writes). */
  taskId?: string;
  /** Writes with the same key for the same task may replace each other while held (progress). */
  coalesce?: string;
}

interface Held extends WriteOptions {
  run: () => unknown;
}

/** SQLite result codes and errno codes of failures that can end without the daemon doing anything. */
const TRANSIENT =
  /^(SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|PROTOCOL|NOMEM)|E(NOSPC|ROFS|IO|DQUOT|ACCES|PERM|AGAIN|BUSY|MFILE|NFILE|NOMEM))/;

export class JournalWriter {
  readonly #log: (message: string) => void;
  readonly #onChange: () => void;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #held: Held[] = [];
  /** The last held write of each task, for coalescing. */
  readonly #lastHeld = new Map<string, Held>();
  #failing: { since: number; cause: string; message: string } | undefined;
  #retryMs: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: JournalWriterOptions) {
    this.#log = options.log;
    this.#onChange = options.onChange;
    this.#retryMinMs = options.retryMinMs ?? 200;
    this.#retryMaxMs = options.retryMaxMs ?? 5000;
    this.#retryMs = this.#retryMinMs;
  }

  health(): JournalHealth {
    const failing = this.#failing;
    return failing
      ? {
          writable: false,
          failingSince: failing.since,
          cause: failing.cause,
          message: failing.message,
          held: this.#held.length,
        }
      : { writable: true, held: this.#held.length };
  }

  /** Runs a write now, or holds it (in order, after what is held) while the journal cannot be written. */
  write(run: () => unknown, options: WriteOptions = {}): void {
    if (this.#held.length > 0) this.flush();
    if (this.#held.length > 0) return this.#hold({ run, ...options });
    try {
      run();
    } catch (error) {
      if (!this.#transient(error)) return;
      this.#hold({ run, ...options });
      this.#fail(error);
    }
  }

  /** Writes what is held, in order, until one fails. Returns whether nothing is held any more. */
  flush(): boolean {
    while (this.#held.length > 0) {
      const next = this.#held[0]!;
      try {
        next.run();
      } catch (error) {
        if (this.#transient(error)) {
          this.#fail(error);
          return false;
        }
      }
      this.#held.shift();
      if (next.taskId !== undefined && this.#lastHeld.get(next.taskId) === next) this.#lastHeld.delete(next.taskId);
    }
    if (this.#failing) this.#recovered();
    return true;
  }

  /** Stops retrying after one last attempt. Returns how many writes are lost. */
  close(): number {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush();
    return this.#held.length;
  }

  #hold(entry: Held): void {
    if (entry.coalesce !== undefined && entry.taskId !== undefined) {
      const last = this.#lastHeld.get(entry.taskId);
      if (last && last.coalesce === entry.coalesce) {
        last.run = entry.run;
        return;
      }
    }
    this.#held.push(entry);
    if (entry.taskId !== undefined) this.#lastHeld.set(entry.taskId, entry);
  }

  /** Whether the write may succeed later; a write that never will is logged and dropped here. */
  #transient(error: unknown): boolean {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && TRANSIENT.test(code)) return true;
    this.#log(`journal write failed and was dropped: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }

  #fail(error: unknown): void {
    const { cause, message } = describeFailure(error);
    const first = this.#failing === undefined;
    const changed = first || this.#failing!.cause !== cause;
    if (first) this.#failing = { since: Date.now(), cause, message };
    else this.#failing = { ...this.#failing!, cause, message };
    if (changed) {
      this.#log(
        `journal: writes failing (${cause}: ${message}); ${this.#held.length} write(s) held in memory and retried, ` +
          'new tasks refused until they go in',
      );
      this.#onChange();
    }
    this.#schedule(first);
  }

  #recovered(): void {
    const since = this.#failing!.since;
    this.#failing = undefined;
    this.#retryMs = this.#retryMinMs;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#log(`journal: writable again after ${Math.round((Date.now() - since) / 1000)} s; every held write is in`);
    this.#onChange();
  }

  #schedule(first: boolean): void {
    if (this.#closed) return;
    if (first) this.#retryMs = this.#retryMinMs;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retryMs = Math.min(this.#retryMs * 2, this.#retryMaxMs);
      this.flush();
    }, this.#retryMs);
    // The daemon's socket keeps the process alive; a retry timer must not.
    this.#timer.unref();
  }
}

/** A short cause for people: SQLite says SQLITE_FULL for a full disk, which is ENOSPC to most. */
export function describeFailure(error: unknown): { cause: string; message: string } {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
  if (code === 'SQLITE_FULL') return { cause: 'ENOSPC', message: `${message} (SQLITE_FULL)` };
  return { cause: typeof code === 'string' ? code.slice(0, 100) : 'ERROR', message };
}
