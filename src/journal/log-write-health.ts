/**
 * Whether task log writes work. The first failure of a run of failures is reported (later ones
 * only counted, with the lines they dropped); writing counts as working again once a write
 * succeeds RECOVERED_AFTER_MS after the last failure, as on a nearly full disk one file may still
 * grow into its last page while others fail.
 */

/** Whether log writes work; while they fail, since when, why, and the lines dropped so far. */
export interface LogStoreHealth {
  writable: boolean;
  failingSince?: number;
  error?: Error;
  droppedLines: number;
}

export interface LogRecovery {
  since: number;
  droppedLines: number;
  error: Error;
}

const RECOVERED_AFTER_MS = 2000;

export class LogWriteHealth {
  readonly #onError: (error: Error) => void;
  readonly #onRecover: ((info: LogRecovery) => void) | undefined;
  #failing: { since: number; error: Error; droppedLines: number; lastAt: number } | undefined;

  /** onError must not throw (LogStore wraps its reporter); what onRecover throws is ignored. */
  constructor(onError: (error: Error) => void, onRecover: ((info: LogRecovery) => void) | undefined) {
    this.#onError = onError;
    this.#onRecover = onRecover;
  }

  get(): LogStoreHealth {
    const failing = this.#failing;
    return failing
      ? { writable: false, failingSince: failing.since, error: failing.error, droppedLines: failing.droppedLines }
      : { writable: true, droppedLines: 0 };
  }

  failed(error: Error, droppedLines: number): void {
    if (this.#failing) {
      this.#failing.droppedLines += droppedLines;
      this.#failing.error = error;
      this.#failing.lastAt = Date.now();
      return;
    }
    this.#failing = { since: Date.now(), error, droppedLines, lastAt: Date.now() };
    this.#onError(error);
  }

  succeeded(): void {
    const failing = this.#failing;
    if (!failing || Date.now() - failing.lastAt < RECOVERED_AFTER_MS) return;
    this.#failing = undefined;
    try {
      this.#onRecover?.({ since: failing.since, droppedLines: failing.droppedLines, error: failing.error });
    } catch {
      // a reporter that fails must not make appends throw
    }
  }
}
