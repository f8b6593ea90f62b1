/**
 * Keeps a task that calls ctx.progress() a million times a second from
 * flooding the IPC channel: at most one message per interval leaves the
 * process, the latest value always wins, and flush() sends what is pending.
 */
import { LatestWins } from '../common/latest-wins.js';

export class ProgressThrottle {
  readonly #progress: LatestWins<{ fraction: number; message?: string }>;
  #lastHeartbeatAt = 0;

  constructor(
    sendProgress: (fraction: number, message?: string) => void,
    private readonly sendHeartbeat: () => void,
    private readonly intervalMs = 20,
  ) {
    this.#progress = new LatestWins(intervalMs, ({ fraction, message }) => sendProgress(fraction, message));
  }

  progress(fraction: number, message?: string): void {
    const value = Number(fraction);
    if (Number.isNaN(value)) throw new TypeError(`ctx.progress() expects a number in [0, 1], got ${String(fraction)}`);
    this.#progress.push({
      fraction: Math.min(1, Math.max(0, value)),
      ...(message === undefined ? {} : { message: String(message) }),
    });
  }

  heartbeat(): void {
    const now = Date.now();
    if (now - this.#lastHeartbeatAt < this.intervalMs) return;
    this.#lastHeartbeatAt = now;
    this.sendHeartbeat();
  }

  flush(): void {
    this.#progress.flush();
  }
}
