/**
 * The public handle of a task. It reads state from the supervisor's record and
 * forwards operations to it; it holds no process logic of its own.
 */
import { EventEmitter } from 'node:events';
import type {
  LogLine,
  Progress,
  ResourceUsage,
  StallInfo,
  TaskOutcome,
  TaskSnapshot,
  TaskSpec,
  TaskState,
} from './types.js';

/** What a Task needs from its supervisor; kept narrow so the handle stays a view. */
export interface TaskOwner {
  snapshot(id: string): TaskSnapshot;
  donePromise(id: string): Promise<TaskOutcome>;
  cancel(id: string): void;
  kill(id: string): void;
  restart(id: string): void;
  pause(id: string): void;
  resume(id: string): void;
}

export interface TaskEvents {
  state: [snapshot: TaskSnapshot, previous: TaskState];
  progress: [progress: Progress];
  stall: [stall: StallInfo];
  log: [line: LogLine];
  usage: [usage: ResourceUsage];
}

export class Task extends EventEmitter<TaskEvents> {
  readonly #owner: TaskOwner;
  readonly id: string;

  constructor(owner: TaskOwner, id: string) {
    super();
    this.#owner = owner;
    this.id = id;
  }

  get name(): string {
    return this.snapshot().name;
  }
  get spec(): TaskSpec {
    return this.snapshot().spec;
  }
  get state(): TaskState {
    return this.snapshot().state;
  }
  get attempt(): number {
    return this.snapshot().attempt;
  }
  get progress(): Progress | undefined {
    return this.snapshot().progress;
  }
  get pid(): number | undefined {
    return this.snapshot().pid;
  }
  get usage(): ResourceUsage | undefined {
    return this.snapshot().usage;
  }
  get stall(): StallInfo | undefined {
    return this.snapshot().stall;
  }
  get outcome(): TaskOutcome | undefined {
    return this.snapshot().outcome;
  }

  /**
   * Settles with the outcome once the task reaches a terminal state (after any
   * restarts under way). After restart() of a finished task, a new promise.
   * Never rejects: failures are outcomes.
   */
  get done(): Promise<TaskOutcome> {
    return this.#owner.donePromise(this.id);
  }

  snapshot(): TaskSnapshot {
    return this.#owner.snapshot(this.id);
  }
  /** Graceful: abort signal, cleanup hooks, SIGTERM to the group, SIGKILL after the grace period. */
  cancel(): void {
    this.#owner.cancel(this.id);
  }
  /** SIGKILL to the whole group, now. */
  kill(): void {
    this.#owner.kill(this.id);
  }
  /** Kill this attempt (if any) and run the same spec again: same id, attempt + 1. */
  restart(): void {
    this.#owner.restart(this.id);
  }
  /** Freeze every process of the task (state 'paused') until resume(); see Supervisor.pause. */
  pause(): void {
    this.#owner.pause(this.id);
  }
  resume(): void {
    this.#owner.resume(this.id);
  }
}
