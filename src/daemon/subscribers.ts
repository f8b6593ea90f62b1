/**
 * The connections that asked for task events (SUBSCRIBE): each starts from a SNAPSHOT sent right
 * after its ACK, then gets every event broadcast, each encoded once per value mode in use (plain,
 * tagged), not once per client, and fitted to a line (fit.ts).
 */
import type { DaemonMessage } from '../protocol/index.js';
import type { RecordedTask } from '../journal/recorded-state.js';
import type { Connection } from './connection.js';
import { fitEvent, fitTasks } from './fit.js';
import { wireEvent, wireTask, type ValueMode } from './wire.js';

export class Subscribers {
  readonly #connections = new Set<Connection>();
  readonly #log: (message: string) => void;

  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  /** Sends the SNAPSHOT of `tasks` before any event, so the client starts from a full picture. */
  add(connection: Connection, tasks: RecordedTask[]): void {
    this.#connections.add(connection);
    connection.send({ type: 'SNAPSHOT', tasks: fitTasks(tasks.map((task) => wireTask(task, connection.values))) });
  }

  delete(connection: Connection): void {
    this.#connections.delete(connection);
  }

  broadcast(message: DaemonMessage): void {
    if (this.#connections.size === 0) return;
    const lines = new Map<ValueMode, string | undefined>();
    for (const connection of this.#connections) {
      if (!lines.has(connection.values))
        lines.set(connection.values, fitEvent(wireEvent(message, connection.values), this.#log));
      const line = lines.get(connection.values);
      if (line !== undefined) connection.sendLine(line);
    }
  }
}
