/**
 * The daemon's own diagnostics: timestamped lines on stderr, which is
 * `<home>/daemon.log` for a background daemon. That file lives in the state
 * directory, so a full disk (or a read-only one) makes these writes fail, and a
 * diagnostic line must never take the daemon and its tasks down with it.
 *
 * So the lines are written with writeSync on the descriptor, each failure is
 * caught: the line is dropped and counted, and once writing works again one
 * line says how many were dropped, since when and why. process.stderr and
 * process.stdout (streams that emit 'error' when a write fails, which kills a
 * process with no listener) get a listener that swallows their errors.
 */
import { writeSync } from 'node:fs';

export interface DiagnosticLogOptions {
  /** Descriptor written to. Default 2 (stderr). */
  fd?: number;
  now?: () => number;
}

export class DiagnosticLog {
  readonly #fd: number;
  readonly #now: () => number;
  #dropped = 0;
  #droppedSince = 0;
  #droppedCause = '';
  /** A line was cut by a failed write: the next output starts on a new line. */
  #cut = false;

  constructor(options: DiagnosticLogOptions = {}) {
    this.#fd = options.fd ?? 2;
    this.#now = options.now ?? Date.now;
  }

  /** Lines dropped since writing last worked (0 while it works). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writes one line; never throws. Returns whether it was written. */
  write = (message: string): boolean => {
    const at = this.#now();
    let text = `${new Date(at).toISOString()} ${message}\n`;
    if (this.#dropped > 0) {
      const s = this.#dropped === 1 ? ' was' : 's were';
      const note = `${this.#dropped} diagnostic line${s} dropped since ${new Date(this.#droppedSince).toISOString()} (${this.#droppedCause}): this log could not be written`;
      text = `${new Date(at).toISOString()} ${note}\n${text}`;
    }
    if (this.#cut) text = `\n${text}`;
    const error = this.#writeAll(Buffer.from(text));
    if (error === undefined) {
      this.#dropped = 0;
      this.#cut = false;
      return true;
    }
    if (this.#dropped === 0) {
      this.#droppedSince = at;
      this.#droppedCause = errorCode(error);
    }
    this.#dropped += 1;
    return false;
  };

  /** Returns the error that stopped the write, undefined when all of it was written. */
  #writeAll(buffer: Buffer): unknown {
    let offset = 0;
    try {
      while (offset < buffer.length) offset += writeSync(this.#fd, buffer, offset, buffer.length - offset);
      return undefined;
    } catch (error) {
      if (offset > 0) this.#cut = true;
      return error;
    }
  }
}

/**
 * A failed write to process.stdout or process.stderr (disk full, a closed pipe)
 * emits 'error' on the stream, which kills a process that has no listener.
 * Idempotent.
 */
export function ignoreStdioErrors(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners('error').includes(swallow)) stream.on('error', swallow);
  }
}

function swallow(): void {
  // The diagnostics that matter go through DiagnosticLog, which counts what it drops.
}

export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The daemon's diagnostic log: the one given (startDaemon's `log` option) or timestamped lines
 * on stderr that survive a full disk; whatever it throws is ignored, as a diagnostic must never
 * take the daemon down.
 */
export function diagnosticLog(given?: (message: string) => void): (message: string) => void {
  const log = given ?? stderrLog();
  return (message) => {
    try {
      log(message);
    } catch {
      // a diagnostic must never take the daemon down
    }
  };
}

function stderrLog(): (message: string) => void {
  ignoreStdioErrors();
  return new DiagnosticLog().write;
}
