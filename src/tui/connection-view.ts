/**
 * What the user sees of the connection and does to it: opening it (at start, and again on R), and
 * each of its turns (connecting, up, failed, lost) in the header, the status line and the quit
 * flow, with the keys held meanwhile carried out or dropped. Reaching the daemon itself is
 * connection.ts's.
 */
import { errorText, type TuiClient } from './client.js';
import type { Connection, OpenResult } from './connection.js';
import { oneLine } from './format.js';
import type { HeldRequests } from './held-requests.js';
import { plural, type Operations } from './operations.js';
import type { Panes } from './panes.js';
import type { DaemonReach } from './quit-flow.js';
import type { Quitting } from './quitting.js';
import type { TuiStore } from './store.js';
import { isActive } from './task-view.js';

export interface ConnectionViewParts {
  store: TuiStore;
  connection: Connection;
  held: HeldRequests;
  operations: Operations;
  panes: Panes;
  quitting: Quitting;
  /** Whether the UI has quit: nothing is shown or carried out after that. */
  finished: () => boolean;
}

export class ConnectionView {
  readonly #parts: ConnectionViewParts;

  constructor(parts: ConnectionViewParts) {
    this.#parts = parts;
  }

  /** Where the daemon is, for the quit flow. */
  reach(): DaemonReach {
    const connection = this.#parts.connection;
    if (connection.phase === 'starting') return 'starting';
    return connection.client ? 'up' : 'down';
  }

  /** R: connects again (starting a daemon, never a cluster), or says why there is nothing to do. */
  async reconnect(): Promise<void> {
    const { store, connection, held } = this.#parts;
    if (connection.reaching) {
      held.sayConnecting();
      return;
    }
    const client = connection.client;
    if (client) {
      store.setStatus(`Already connected to ${this.#peer(client)}.`, 'info');
      store.changed(true);
      return;
    }
    await this.open(store.draft.cluster === undefined);
  }

  /** Connects, says how it went, and carries out the keys held meanwhile. */
  async open(autostart: boolean): Promise<void> {
    const { store, connection, held, quitting, finished } = this.#parts;
    const result = await connection.open(autostart);
    if (finished() || result.kind === 'busy' || result.kind === 'abandoned') return;
    if (result.kind === 'failed') {
      store.setDaemon({ kind: 'disconnected', reason: errorText(result.error) });
      store.setStatus(
        `Cannot reach ${this.#peer()}: ${oneLine(errorText(result.error))}. Press R to try again.${held.drop()}`,
        'error',
      );
      store.changed(true);
      quitting.event({ type: 'daemonFailed' });
      return;
    }
    if (result.kind === 'up') this.#connected(result);
    if (finished() || quitting.state.phase !== 'open') return;
    if (connection.client) await held.replay(finished);
    else if (held.size > 0) {
      store.setStatus(`The daemon went away while connecting. Press R to start it again.${held.drop()}`, 'error');
      store.changed(true);
    }
  }

  /** A connection attempt began. */
  connecting(how: 'connecting' | 'starting' | 'starting-none-ran'): void {
    const { store, held } = this.#parts;
    store.setDaemon({ kind: 'connecting', text: how === 'connecting' ? 'connecting…' : 'starting…' });
    held.sayConnecting(
      store.draft.cluster !== undefined
        ? `Connecting to ${this.#peer()}…`
        : how === 'connecting'
          ? 'Connecting to the daemon…'
          : how === 'starting'
            ? 'Starting the daemon…'
            : 'No daemon running: starting one…',
    );
  }

  /** The open connection ended without close(). */
  lost(reason: string): void {
    const { store, operations, quitting, finished } = this.#parts;
    if (finished()) return;
    operations.forgetAll();
    store.clearAllPending();
    store.setDaemon({ kind: 'disconnected', reason: oneLine(reason) });
    store.setHealth(undefined);
    quitting.event({ type: 'daemonLost' });
    if (finished()) return;
    store.setStatus(
      store.draft.cluster !== undefined
        ? `Lost ${this.#peer()} (${oneLine(reason)}); tasks are shown as last seen. Press R to connect again.`
        : `The daemon is gone (${oneLine(reason)}); tasks are shown as last seen. Press R to start it again.`,
      'error',
    );
    store.changed(true);
  }

  /** Whether the daemon can be asked now; says why not when it cannot. */
  ready(): boolean {
    const { store, connection } = this.#parts;
    if (connection.client) return true;
    const connecting = connection.reaching;
    const peer = store.draft.cluster !== undefined ? 'the cluster' : 'the daemon';
    store.setStatus(
      connecting
        ? `Still connecting to ${peer}…`
        : `Not connected to ${peer}. Press R to ${store.draft.cluster !== undefined ? 'connect again' : 'start it again'}.`,
      connecting ? 'busy' : 'warn',
    );
    store.changed(true);
    return false;
  }

  #connected({ client, tasks }: Extract<OpenResult, { kind: 'up' }>): void {
    const { store, connection, operations, panes, quitting } = this.#parts;
    const welcome = client.welcome;
    store.setDaemon(
      welcome ? { kind: 'connected', pid: welcome.daemonPid, home: welcome.home } : { kind: 'connected' },
    );
    store.setHealth(welcome?.health);
    const active = tasks.filter(isActive).length;
    store.setStatus(
      `${connection.startedDaemon ? 'Started' : 'Connected to'} ${this.#peer(client)}` +
        (tasks.length > 0 ? ` · ${plural(tasks.length, 'task')} known, ${active} active` : '') +
        ' · press 1-9 to start a task, ? for help',
      'success',
    );
    panes.reload();
    store.changed(true);
    quitting.event({ type: 'daemonUp', active: operations.activeTasks().length });
  }

  /** What this UI is connected to, in words: "the daemon (pid 12)", "cluster redis://… queue q". */
  #peer(client?: TuiClient): string {
    const cluster = this.#parts.store.draft.cluster;
    if (cluster !== undefined) return `cluster ${cluster}`;
    return client?.welcome ? `the daemon (pid ${client.welcome.daemonPid})` : 'the daemon';
  }
}
