/**
 * Keeps a task that calls ctx.progress() a million times a second from
 * flooding the IPC channel: at most one message per interval leaves the
 * process, the latest value always wins, and flush() sends what is pending.
 */
export class ProgressThrottle {
  #pending: { fraction: number; message?: string } | undefined;
  #lastSentAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastHeartbeatAt = 0;

  constructor(
    private readonly sendProgress: (fraction: number, message?: string) => void,
    private readonly sendHeartbeat: () => void,
    private readonly intervalMs = 20,
  ) {}

  progress(fraction: number, message?: string): void {
    const value = Number(fraction);
    if (Number.isNaN(value)) throw new TypeError(`ctx.progress() expects a number in [0, 1], got ${String(fraction)}`);
    this.#pending = {
      fraction: Math.min(1, Math.max(0, value)),
      message: message === undefined ? undefined : String(message),
    };
    const wait = this.#lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), wait);
  }

  heartbeat(): void {
    const now = Date.now();
    if (now - this.#lastHeartbeatAt < this.intervalMs) return;
    this.#lastHeartbeatAt = now;
    this.sendHeartbeat();
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#pending) return;
    const { fraction, message } = this.#pending;
    this.#pending = undefined;
    this.#lastSentAt = Date.now();
    this.sendProgress(fraction, message);
  }
}
