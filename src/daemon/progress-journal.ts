/**
 * Writes task progress to the journal at most once per interval per task, plus
 * the last value. Progress arrives up to 20 times a second per task (the
 * supervisor's coalescing); a SQLite write for each would cost the daemon more
 * than it is worth, and only the last value matters after a crash. The final
 * value is never lost: flush() writes what is pending, and a transition records
 * the snapshot's progress anyway.
 */
import { LatestWins } from '../common/latest-wins.js';
import type { Progress } from '../supervisor/types.js';

interface Pending {
  attempt: number;
  progress: Progress;
}

export class ProgressJournal {
  readonly #tasks = new Map<string, LatestWins<Pending>>();
  readonly #intervalMs: number;
  readonly #write: (taskId: string, attempt: number, progress: Progress) => void;

  constructor(intervalMs: number, write: (taskId: string, attempt: number, progress: Progress) => void) {
    this.#intervalMs = intervalMs;
    this.#write = write;
  }

  note(taskId: string, attempt: number, progress: Progress): void {
    let throttle = this.#tasks.get(taskId);
    if (!throttle) {
      throttle = new LatestWins(this.#intervalMs, (p: Pending) => this.#write(taskId, p.attempt, p.progress));
      this.#tasks.set(taskId, throttle);
    }
    throttle.push({ attempt, progress });
  }

  /** The task changed state: its snapshot (with progress) is being recorded, so pending progress is moot. */
  forget(taskId: string): void {
    this.#tasks.get(taskId)?.drop();
    this.#tasks.delete(taskId);
  }

  flush(): void {
    for (const throttle of this.#tasks.values()) throttle.flush();
  }
}
