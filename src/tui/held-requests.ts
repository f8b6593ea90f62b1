/**
 * Keys that need the daemon, pressed while it is being reached: kept in order, shown on the status
 * line at once, and carried out once the daemon has listed its tasks (or named as not done when
 * it cannot be reached).
 */
import type { Action } from './keys.js';
import type { TuiStore } from './store.js';

/** The actions that need the daemon: pressed while it is being reached, they wait for it, in order. */
export type DaemonAction = Extract<Action, { type: 'template' | 'cancel' | 'kill' | 'restart' | 'stopAll' }>;
const DAEMON_ACTIONS = new Set<Action['type']>(['template', 'cancel', 'kill', 'restart', 'stopAll']);

export function needsDaemon(action: Action): action is DaemonAction {
  return DAEMON_ACTIONS.has(action.type);
}

const NEXT_STARTED = Symbol('the task started by the request before');

/** A key pressed while connecting. `target`: the task it acts on (its id, or the task an earlier held start makes). */
interface Held {
  action: DaemonAction;
  target?: string | typeof NEXT_STARTED;
  label: string;
}

/** What carries a request out once the daemon is up. */
export interface RequestRunner {
  /** Resolves with the new task's id (undefined when it did not start). */
  startTemplate(key: number): Promise<string | undefined>;
  taskOp(op: 'cancel' | 'kill' | 'restart', taskId: string): Promise<void>;
  stopAll(): Promise<void>;
}

export class HeldRequests {
  #held: Held[] = [];
  #replaying = false;

  constructor(
    private readonly store: TuiStore,
    private readonly runner: RequestRunner,
  ) {}

  /** Whether held requests are being carried out (a new one waits behind them). */
  get replaying(): boolean {
    return this.#replaying;
  }

  /** Keeps a request for when the daemon is up (in order); `connecting`: say so on the status line. */
  hold(action: DaemonAction, connecting: boolean): void {
    const store = this.store;
    let target: Held['target'];
    if (action.type === 'cancel' || action.type === 'kill' || action.type === 'restart') {
      target = store.draft.selectedId;
      if (target === undefined) {
        // nothing selected: it can only mean a task started by a request already held
        if (!this.#held.some((w) => w.action.type === 'template')) {
          const key = action.type === 'cancel' ? 'k' : action.type === 'kill' ? 'K' : 'r';
          store.setStatus(
            `${key}: no task selected. The daemon is not up yet; once it lists its tasks, select one and press ${key} again.`,
            'warn',
          );
          store.changed(true);
          return;
        }
        target = NEXT_STARTED;
      }
    }
    if (action.type === 'template' && !store.draft.templates.some((t) => t.key === action.key)) {
      void this.runner.startTemplate(action.key); // answered at once: no such template
      return;
    }
    this.#held.push({ action, ...(target !== undefined ? { target } : {}), label: this.#label(action, target) });
    if (connecting) this.sayConnecting();
    else store.changed(true);
  }

  /** The status line while connecting: what is under way, and what waits for it. */
  sayConnecting(text?: string): void {
    const store = this.store;
    const base =
      text ??
      (store.draft.daemon.kind === 'connecting' && store.draft.daemon.text === 'starting…'
        ? 'Starting the daemon…'
        : 'Connecting to the daemon…');
    const n = this.#held.length;
    store.setStatus(
      n === 0
        ? base
        : `${base} ${n === 1 ? 'your request' : `${n} requests`} will run when it is up: ${this.#held.map((w) => w.label).join(', ')}`,
      'busy',
    );
    store.changed(true);
  }

  /** Carries out what was asked while connecting, in order, until `stop()` says the UI is leaving. */
  async replay(stop: () => boolean): Promise<void> {
    if (this.#replaying) return;
    this.#replaying = true;
    let started: string | undefined;
    let startFailed = false;
    try {
      for (let next = this.#held.shift(); next; next = this.#held.shift()) {
        if (stop()) return;
        const { action, target } = next;
        if (action.type === 'template') {
          started = await this.runner.startTemplate(action.key);
          startFailed = started === undefined;
        } else if (action.type === 'stopAll') {
          await this.runner.stopAll();
        } else {
          const id = target === NEXT_STARTED ? started : target;
          if (id === undefined) {
            this.store.setStatus(
              `Not done: ${next.label}: ${startFailed ? 'that start failed' : 'no such task'}.`,
              'warn',
            );
            this.store.changed(true);
            continue;
          }
          await this.runner.taskOp(action.type, id);
        }
      }
    } finally {
      this.#replaying = false;
    }
  }

  /** Forgets every held request; returns " Not done: …." naming them ('' when none). */
  drop(): string {
    const labels = this.#held.map((w) => w.label);
    this.#held = [];
    return labels.length === 0 ? '' : ` Not done: ${labels.join(', ')}.`;
  }

  get size(): number {
    return this.#held.length;
  }

  #label(action: DaemonAction, target: Held['target']): string {
    const on = target === NEXT_STARTED ? 'the task started before it' : `task ${target}`;
    switch (action.type) {
      case 'template': {
        const template = this.store.draft.templates.find((t) => t.key === action.key);
        return template ? `start ${action.key} (${template.name})` : `start ${action.key}`;
      }
      case 'cancel':
        return `cancel ${on}`;
      case 'kill':
        return `kill ${on}`;
      case 'restart':
        return `restart ${on}`;
      case 'stopAll':
        return 'stop every task';
    }
  }
}
