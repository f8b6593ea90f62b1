/**
 * Restart intensity, as in Erlang/OTP supervisors: at most `max` restarts in
 * a sliding window, each waiting longer (exponential backoff), so a task that
 * stalls every time cannot loop forever.
 */
export class RestartIntensity {
  readonly #history: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly backoffMs: number,
    private readonly maxBackoffMs = 30_000,
  ) {}

  /** Records a restart at `now` and returns the delay before it, or undefined when the limit is reached. */
  next(now: number): number | undefined {
    while (this.#history.length > 0 && now - this.#history[0]! > this.windowMs) this.#history.shift();
    if (this.#history.length >= this.max) return undefined;
    this.#history.push(now);
    return Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (this.#history.length - 1));
  }
}
