/**
 * What the web server shows and controls: a local daemon (daemon-link.ts) or a cluster
 * (cluster-link.ts). Both keep a mirror of the tasks for pages that open (TaskMirror), pass every
 * task event to the pages in the protocol's tagged JSON, and answer the page's protocol requests;
 * the server (routes.ts) does not know which one it talks to. One mirror, so both apply events
 * with the same reducer the page uses (page/model.ts).
 */
import type { DaemonEvent, DaemonHealth, RequestType } from '../protocol/index.js';
import { encodeValue, mapPayloadValues } from '../protocol/index.js';
import type { RecordedTask } from '../journal/recorded-state.js';
import type { EventHub } from './event-hub.js';
import {
  applyEvent,
  byCreation,
  isTerminal,
  type TaskEvent,
  type WireBackendState,
  type WireTask,
} from './page/model.js';

/** The page's WireBackendState (page/model.ts, where its fields are described), with the protocol's health type. */
export interface BackendState extends WireBackendState {
  health?: DaemonHealth;
}

export interface Backend {
  readonly state: BackendState;
  /** Connects now (`autostart`: start a local daemon when none runs); when that fails, keeps trying. */
  connect(autostart: boolean): Promise<void>;
  /** What a page that starts from nothing is sent first. */
  snapshot(): object;
  /**
   * One protocol request; resolves with the reply's payload (task values in tagged JSON) and `seq`,
   * the id of the last event the pages were sent before the reply. Errors carry a `code`.
   */
  request(type: RequestType, payload?: object): Promise<{ payload: Record<string, unknown>; seq: number }>;
  close(): void;
}

/** The tasks as the pages know them, and the path of every task event to them. */
export class TaskMirror {
  readonly #hub: EventHub;
  readonly #dropStale: boolean;
  #tasks = new Map<string, WireTask>();

  /** `dropStale`: events may come after a newer read (a cluster's); see #isStale. */
  constructor(hub: EventHub, options: { dropStale?: boolean } = {}) {
    this.#hub = hub;
    this.#dropStale = options.dropStale ?? false;
  }

  get seq(): number {
    return this.#hub.seq;
  }

  /** Starts again from `tasks` and sends every page the fresh snapshot. */
  reset(tasks: readonly RecordedTask[], state: BackendState): void {
    this.#tasks = new Map(tasks.map((task) => [task.id, encodeTask(task)]));
    this.#hub.publish(this.snapshot(state));
  }

  snapshot(state: BackendState): object {
    return { type: 'SNAPSHOT', tasks: [...this.#tasks.values()].sort(byCreation), daemon: state, now: Date.now() };
  }

  /** A task event, in tagged JSON, into the mirror and to the pages. */
  apply(event: DaemonEvent): void {
    const wire = (
      event.type === 'TASK_STATUS' || event.type === 'TASK_COMPLETE'
        ? { ...event, task: encodeTask(event.task) }
        : event
    ) as TaskEvent;
    if (this.#dropStale && 'task' in wire && this.#isStale(wire.task)) return;
    applyEvent(this.#tasks, wire);
    this.#hub.publish(wire);
  }

  /** A state change the backend itself noticed (up, down, its health). */
  publish(message: object): void {
    this.#hub.publish(message);
  }

  /**
   * An event older than what the mirror holds: a cluster's events travel apart from the reads, so
   * one sent before a snapshot was read may come after it. A finished attempt never runs again.
   */
  #isStale(task: WireTask): boolean {
    const known = this.#tasks.get(task.id);
    return (
      known !== undefined &&
      isTerminal(known.state) &&
      !isTerminal(task.state) &&
      task.state !== 'queued' &&
      task.attempt <= known.attempt
    );
  }
}

export function encodeTask(task: WireTask): WireTask {
  return mapPayloadValues({ task }, (value) => encodeValue(value)).task as WireTask;
}

/** A reply's task values in the protocol's tagged JSON, as a client that asked for "tagged" gets them. */
export function encodeReply(reply: object): Record<string, unknown> {
  return mapPayloadValues(reply as Record<string, unknown>, (value) => encodeValue(value));
}
