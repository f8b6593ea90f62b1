/**
 * "Latest value wins, at most once per interval": the one throttle for values that arrive faster
 * than they are worth passing on (a task's progress, in the runner, the supervisor and the
 * daemon's journal). A value is passed on at once when the interval since the last has passed,
 * else when it has; a newer value replaces a waiting one; flush() passes on what waits now, so
 * the final value is never lost. Timers only while a value waits.
 */
export class LatestWins<T> {
  readonly #intervalMs: number;
  readonly #emit: (value: T) => void;
  #pending: { value: T } | undefined;
  #lastAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number, emit: (value: T) => void) {
    this.#intervalMs = intervalMs;
    this.#emit = emit;
  }

  push(value: T): void {
    this.#pending = { value };
    const wait = this.#lastAt + this.#intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), wait);
  }

  /** Passes on the waiting value, if any. */
  flush(): void {
    this.#stopTimer();
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    this.#lastAt = Date.now();
    this.#emit(pending.value);
  }

  /** Drops the waiting value (it is recorded another way, or moot). */
  drop(): void {
    this.#stopTimer();
    this.#pending = undefined;
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
