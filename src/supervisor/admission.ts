/**
 * Admission: the queue of tasks waiting for one of the `concurrency` slots, and the count of the
 * slots taken. A task is admitted (the machine's 'admit' event) while slots are free; admissions
 * decided but not yet applied count as taken, because events queue while another is processed.
 * After each pass the prewarmed pool is told how many runners the next tasks will want.
 */
import type { TaskRecord } from './task-record.js';

export interface AdmissionHost {
  readonly concurrency: number;
  /** Dispatches the 'admit' event to the task (applied now, or after the event being processed). */
  admit(record: TaskRecord): void;
  /** After each pass, with the tasks still waiting, oldest first. */
  afterPass(queue: readonly TaskRecord[]): void;
}

export class Admission {
  readonly #host: AdmissionHost;
  readonly #queue: TaskRecord[] = [];
  #scheduled = false;
  /** Admissions decided but not yet applied. */
  #admitting = 0;
  #active = 0;

  constructor(host: AdmissionHost) {
    this.#host = host;
  }

  /** Queues the task; admitted by the next pass. */
  enqueue(record: TaskRecord): void {
    this.#queue.push(record);
  }

  /** A pass after this turn's synchronous work (a caller can attach listeners first). */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.pass();
    });
  }

  /** Admits queued tasks while slots are free. */
  pass(): void {
    while (this.#active + this.#admitting < this.#host.concurrency && this.#queue.length > 0) {
      const record = this.#queue.shift()!;
      if (record.machine.state !== 'queued') continue; // cancelled while waiting
      this.#admitting += 1;
      this.#host.admit(record);
    }
    this.#host.afterPass(this.#queue);
  }

  /** The 'admit' event is being applied: its slot is counted by slotTaken() now. */
  admitted(): void {
    this.#admitting -= 1;
  }

  slotTaken(): void {
    this.#active += 1;
  }

  /** A task let go of its slot: the next may come in. */
  slotFreed(): void {
    this.#active -= 1;
    this.pass();
  }
}
