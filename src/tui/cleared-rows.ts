/**
 * Which finished rows stay cleared (c): the run that was cleared in this session, and every task
 * that ended by the time remembered from an earlier one (tui.json); a task that runs again, and so
 * ends later, comes back.
 */
import { isFinishedState, type RecordedTask } from '../journal/recorded-state.js';

export class ClearedRows {
  /** Tasks cleared with c, and the attempt that was cleared. */
  #attempts = new Map<string, number>();
  /** Tasks that ended at or before this (daemon clock, ms) are cleared too. */
  #through = -Infinity;

  /** When the last cleared task ended (undefined: nothing cleared). */
  get through(): number | undefined {
    return Number.isFinite(this.#through) ? this.#through : undefined;
  }

  set through(at: number | undefined) {
    this.#through = at ?? -Infinity;
  }

  /** A row cleared now: its attempt stays cleared, and so does whatever ended before it. */
  add(id: string, attempt: number, endedAt: number | undefined): void {
    this.#attempts.set(id, attempt);
    if (endedAt !== undefined) this.#through = Math.max(this.#through, endedAt);
  }

  /** Whether a snapshot is of a cleared task, and still the run that was cleared; `shown`: it has a row now. */
  covers(task: RecordedTask, shown: boolean): boolean {
    if (isFinishedState(task.state) && task.endedAt !== undefined && task.endedAt <= this.#through && !shown)
      return true;
    const attempt = this.#attempts.get(task.id);
    if (attempt === undefined) return false;
    if (task.attempt === attempt && isFinishedState(task.state)) return true;
    this.#attempts.delete(task.id);
    return false;
  }
}
