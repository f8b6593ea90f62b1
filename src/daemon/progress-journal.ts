/**
 * Writes task progress to the journal at most once per interval per task, plus
 * the last value. Progress arrives up to 20 times a second per task (the
 * supervisor's coalescing); a SQLite write for each would cost the daemon more
 * than it is worth, and only the last value matters after a crash. The final
 * value is never lost: flush() writes what is pending, and a transition records
 * the snapshot's progress anyway.
 */
import type { Progress } from '../supervisor/types.js';

interface Entry {
  lastAt: number;
  pending?: { attempt: number; progress: Progress };
  timer?: NodeJS.Timeout;
}

export class ProgressJournal {
  readonly #entries = new Map<string, Entry>();
  readonly #intervalMs: number;
  readonly #write: (taskId: string, attempt: number, progress: Progress) => void;

  constructor(intervalMs: number, write: (taskId: string, attempt: number, progress: Progress) => void) {
    this.#intervalMs = intervalMs;
    this.#write = write;
  }

  note(taskId: string, attempt: number, progress: Progress): void {
    const entry = this.#entries.get(taskId) ?? { lastAt: 0 };
    this.#entries.set(taskId, entry);
    entry.pending = { attempt, progress };
    const wait = entry.lastAt + this.#intervalMs - Date.now();
    if (wait <= 0) this.#flushEntry(taskId, entry);
    else entry.timer ??= setTimeout(() => this.#flushEntry(taskId, entry), wait);
  }

  /** The task changed state: its snapshot (with progress) is being recorded, so pending progress is moot. */
  forget(taskId: string): void {
    const entry = this.#entries.get(taskId);
    if (entry) clearTimeout(entry.timer);
    this.#entries.delete(taskId);
  }

  flush(): void {
    for (const [taskId, entry] of this.#entries) this.#flushEntry(taskId, entry);
  }

  #flushEntry(taskId: string, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const pending = entry.pending;
    if (!pending) return;
    entry.pending = undefined;
    entry.lastAt = Date.now();
    this.#write(taskId, pending.attempt, pending.progress);
  }
}
