/**
 * Runs the quit flow (quit-flow.ts, pure) against the screen and the daemon: feeds it events,
 * carries out its actions (the prompt, the emergency stop before leaving, dropping held keys), and
 * reports once how the UI leaves.
 */
import { errorText } from './client.js';
import type { Connection } from './connection.js';
import { oneLine } from './format.js';
import type { HeldRequests } from './held-requests.js';
import { plural, type Operations } from './operations.js';
import { QUIT_OPEN, quitStep, type QuitAction, type QuitEvent, type QuitHow, type QuitState } from './quit-flow.js';
import type { TuiStore } from './store.js';

export interface QuittingOptions {
  store: TuiStore;
  connection: Connection;
  operations: Operations;
  held: HeldRequests;
  /** Called once, when the flow is done. */
  finish: (how: QuitHow) => void;
}

export class Quitting {
  #state: QuitState = QUIT_OPEN;
  readonly #options: QuittingOptions;

  constructor(options: QuittingOptions) {
    this.#options = options;
  }

  get state(): QuitState {
    return this.#state;
  }

  event(event: QuitEvent): void {
    const { state, actions } = quitStep(this.#state, event);
    this.#state = state;
    for (const action of actions) this.#run(action);
    if (actions.some((a) => a.type === 'mode' || a.type === 'status')) this.#options.store.changed(true);
  }

  #run(action: QuitAction): void {
    const { store } = this.#options;
    switch (action.type) {
      case 'mode':
        return store.setMode(action.mode);
      case 'status':
        return store.setStatus(action.text, action.tone);
      case 'stopAll':
        return void this.#stopEverything();
      case 'dropHeld':
        return void this.#options.held.drop();
      case 'finish':
        return this.#options.finish(action.how);
    }
  }

  async #stopEverything(): Promise<void> {
    const { store, connection, operations } = this.#options;
    const active = operations.activeTasks();
    for (const t of active) store.setPending(t.id, 'stop');
    store.setStatus(`Stopping ${plural(active.length, 'task')} before quitting…`, 'busy');
    store.changed(true);
    try {
      await connection.request('STOP_ALL');
      this.event({ type: 'stopped' });
    } catch (error) {
      if (this.#state.phase !== 'stopping') return;
      const connected = connection.client !== undefined;
      if (connected) for (const t of active) store.setPending(t.id, undefined);
      this.event({ type: 'stopFailed', reason: oneLine(errorText(error)), connected });
    }
  }
}
