/**
 * The UI's behaviour, kept out of the components: where its parts meet. It routes key presses to
 * what they do, and daemon events to the store. The parts: connection.ts (reaching the daemon),
 * connection-view.ts (what the screen and the quit flow make of the connection's comings and
 * goings), held-requests.ts (keys pressed before it is up), operations.ts (what the keys ask of the
 * daemon), panes.ts (the log pane, the details and help pages), quitting.ts and quit-flow.ts (leaving).
 */
import os from 'node:os';
import type { DaemonEvent } from '../protocol/messages.js';
import type { RecordedTask } from '../journal/recorded-state.js';
import { errorText, type ConnectFn, type TuiClient } from './client.js';
import { Connection } from './connection.js';
import { ConnectionView } from './connection-view.js';
import { applyEvent } from './daemon-events.js';
import { oneLine } from './format.js';
import { HeldRequests, needsDaemon } from './held-requests.js';
import { actionFor, splitInput, type Action, type KeyInfo } from './keys.js';
import { Panes } from './panes.js';
import { Operations, plural } from './operations.js';
import { filePrefs, recalledClearedThrough, rememberClearedThrough, type PrefsStore } from './prefs.js';
import type { QuitHow } from './quit-flow.js';
import { Quitting } from './quitting.js';
import type { TuiStore } from './store.js';
import type { MachineLoad } from './ui-state.js';

export type { QuitHow } from './quit-flow.js';

export interface QuitResult {
  how: QuitHow;
  /** Tasks still active in the daemon when the UI left (detach). */
  active: number;
  /** The connection, still open when there is one: the caller decides whether to shut the daemon down. */
  client?: TuiClient;
  /** Whether this UI started the daemon it is connected to. */
  startedDaemon: boolean;
}

export interface ControllerOptions {
  store: TuiStore;
  connect: ConnectFn;
  machineLoad?: () => MachineLoad;
  /** Clock tick for elapsed times. Default 1000 ms. */
  tickMs?: number;
  /** Machine load refresh. Default 2000 ms. */
  loadMs?: number;
  /** Bytes of log tail fetched for the log pane. Default 32 KiB. */
  logTailBytes?: number;
  /**
   * Paints these tasks' rows and the status line at once, ahead of the next frame (see
   * fast-paint.ts); called for the stop keys, after the working state changed.
   */
  paint?: (taskIds: readonly string[]) => void;
  /** Where the UI keeps what it remembers per state directory (cleared rows). Default: tui.json in it. */
  prefs?: PrefsStore;
}

export function systemLoad(): MachineLoad {
  const total = os.totalmem();
  return {
    load1: os.loadavg()[0]!,
    cpus: os.availableParallelism(),
    memUsedFraction: total > 0 ? 1 - os.freemem() / total : 0,
  };
}

/** In help, what leaves the help open; in details, what needs the table and so closes them first. */
const KEEPS_HELP = new Set<Action['type']>(['scroll', 'closeOverlay', 'help', 'quit', 'interrupt']);
const CLOSES_DETAILS = new Set<Action['type']>([
  'template',
  'clearFinished',
  'toggleLog',
  'reconnect',
  'quit',
  'interrupt',
]);

export class Controller {
  readonly store: TuiStore;
  readonly done: Promise<QuitResult>;
  readonly #connection: Connection;
  readonly #operations: Operations;
  readonly #held: HeldRequests;
  readonly #panes: Panes;
  readonly #quitting: Quitting;
  readonly #connectionView: ConnectionView;
  #finished = false;
  #resolveDone!: (result: QuitResult) => void;
  #timers: NodeJS.Timeout[] = [];
  readonly #options: ControllerOptions;
  readonly #prefs: PrefsStore;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.store = options.store;
    this.#prefs = options.prefs ?? filePrefs;
    this.#connection = new Connection(options.connect, {
      onConnecting: (how) => this.#connectionView.connecting(how),
      onTasks: (client, tasks) => this.#tasksListed(client, tasks),
      onEvent: (event) => this.#onEvent(event),
      onLost: (reason) => this.#connectionView.lost(reason),
    });
    this.#panes = new Panes(this.store, this.#connection, options.logTailBytes ?? 32_768);
    this.#operations = new Operations({
      store: this.store,
      connection: this.#connection,
      paint: (ids) => this.#paint(ids),
      ready: () => this.#connectionView.ready(),
      selected: () => this.#panes.selectionChanged(),
    });
    this.#held = new HeldRequests(this.store, this.#operations);
    this.#quitting = new Quitting({
      store: this.store,
      connection: this.#connection,
      operations: this.#operations,
      held: this.#held,
      finish: (how) => this.#finish(how),
    });
    this.#connectionView = new ConnectionView({
      store: this.store,
      connection: this.#connection,
      held: this.#held,
      operations: this.#operations,
      panes: this.#panes,
      quitting: this.#quitting,
      finished: () => this.#finished,
    });
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  get startedDaemon(): boolean {
    return this.#connection.startedDaemon;
  }

  /** Connects (starting a daemon when none runs) and starts the clocks. Never throws. */
  async start(): Promise<void> {
    const tick = setInterval(() => {
      this.store.setNow(Date.now());
      if (this.#operations.activeTasks().length > 0) this.store.changed();
    }, this.#options.tickMs ?? 1000);
    const load = setInterval(() => {
      this.#refreshLoad();
      this.store.changed();
    }, this.#options.loadMs ?? 2000);
    tick.unref();
    load.unref();
    this.#timers.push(tick, load);
    this.#refreshLoad();
    await this.#connectionView.open(false);
  }

  dispose(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#panes.dispose();
    this.store.dispose();
  }

  // ---- input ------------------------------------------------------------------------------------

  /** One input from Ink's useInput (several printable characters are several keys). */
  key(input: string, key: KeyInfo): void {
    if (key.meta && !key.escape) {
      // Esc and the next key read together ("\x1b\x1b[B", "\x1bk") come as one key with meta (Alt)
      // set; no key here means anything with Alt: it is an Esc typed just before the key.
      const esc = actionFor('', { escape: true }, this.store.draft.mode);
      if (esc) this.dispatch(esc);
      key = { ...key, meta: false };
    }
    for (const part of splitInput(input)) {
      const action = actionFor(part, key, this.store.draft.mode);
      if (action) this.dispatch(action);
    }
  }

  dispatch(action: Action): void {
    if (this.#finished) return;
    try {
      // A page (help, details) over the table: what needs the table closes it first.
      const mode = this.store.draft.mode;
      if (mode === 'help' && !KEEPS_HELP.has(action.type)) this.store.setMode('normal');
      else if (mode === 'details' && CLOSES_DETAILS.has(action.type)) this.#panes.closeDetails();
      if (needsDaemon(action) && (this.#connection.reaching || this.#held.replaying)) {
        this.#held.hold(action, this.#connection.reaching);
        return;
      }
      void this.#dispatch(action);
    } catch (error) {
      // a bug here must not take the UI down: say it and carry on
      this.store.setStatus(`Internal error: ${errorText(error)}`, 'error');
      this.store.changed(true);
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- some actions finish at once, some start a request
  #dispatch(action: Action): void | Promise<unknown> {
    const store = this.store;
    switch (action.type) {
      case 'template':
        return this.#operations.startTemplate(action.key);
      case 'move': {
        const page = Math.max(1, store.pageSize - 1);
        const delta = action.delta === 'pageUp' ? -page : action.delta === 'pageDown' ? page : action.delta;
        store.moveSelection(delta);
        this.#panes.selectionChanged();
        return store.changed(true);
      }
      case 'cancel':
      case 'kill':
      case 'restart':
        return this.#operations.taskOp(action.type);
      case 'pause':
        return this.#operations.togglePause();
      case 'stopAll':
        return this.#operations.stopAll();
      case 'details':
        return this.#panes.openDetails();
      case 'scroll':
        return this.#panes.scroll(action.delta);
      case 'toggleLog':
        this.#panes.toggleLog();
        return store.changed(true);
      case 'clearFinished':
        return this.#clearFinished();
      case 'help':
        this.#panes.toggleHelp();
        return store.changed(true);
      case 'closeOverlay':
        this.#panes.closeTop();
        return store.changed(true);
      case 'quit':
      case 'interrupt':
        return this.#quitting.event({
          type: 'quit',
          daemon: this.#connectionView.reach(),
          active: this.#operations.activeTasks().length,
        });
      case 'quitStop':
        return this.#quitting.event({ type: 'stop' });
      case 'quitDetach':
        return this.#quitting.event({ type: 'detach' });
      case 'quitStay':
        return this.#quitting.event({ type: 'stay' });
      case 'reconnect':
        return this.#connectionView.reconnect();
    }
  }

  #clearFinished(): void {
    const store = this.store;
    const { count } = store.clearFinished();
    store.setStatus(count > 0 ? `Cleared ${plural(count, 'finished row')}.` : 'No finished rows to clear.', 'info');
    if (count > 0) this.#saveCleared();
    this.#panes.selectionChanged();
    store.changed(true);
  }

  /** The daemon's task list, before the events that came with it. */
  #tasksListed(client: TuiClient, tasks: RecordedTask[]): void {
    // Cleared rows are remembered per state directory; a cluster has none, so there they last the session.
    if (client.welcome) this.#loadCleared(client.welcome.home);
    this.store.replaceTasks(tasks);
  }

  #onEvent(event: DaemonEvent): void {
    const view = applyEvent(this.store, event);
    if (view) this.#operations.observe(view);
    if (event.type === 'TASK_STATUS' || event.type === 'TASK_COMPLETE')
      this.#panes.taskChanged(event.task.id, event.type === 'TASK_COMPLETE');
    this.store.changed();
  }

  // ---- cleared rows, remembered per state directory -------------------------------------------------

  #loadCleared(home: string): void {
    const saved = recalledClearedThrough(this.#prefs, home);
    if (saved !== undefined) this.store.setClearedThrough(Math.max(saved, this.store.clearedThrough ?? saved));
  }

  #saveCleared(): void {
    const client = this.#connection.client;
    const through = this.store.clearedThrough;
    if (!client?.welcome || through === undefined) return;
    try {
      rememberClearedThrough(this.#prefs, client.welcome.home, through);
    } catch (error) {
      this.store.setStatus(
        `Cleared, for this session only: could not remember it (${oneLine(errorText(error))}).`,
        'warn',
      );
    }
  }

  // ---- quitting ----------------------------------------------------------------------------------------

  #finish(how: QuitHow): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#connection.abandon();
    const client = this.#connection.client;
    const active = how === 'detached' ? this.#operations.activeTasks().length : 0;
    this.#resolveDone({ how, active, ...(client ? { client } : {}), startedDaemon: this.#connection.startedDaemon });
  }

  #paint(taskIds: readonly string[]): void {
    try {
      this.#options.paint?.(taskIds);
    } catch {
      // the frame that follows draws the same
    }
  }

  #refreshLoad(): void {
    try {
      this.store.setLoad((this.#options.machineLoad ?? systemLoad)());
    } catch {
      // load is decoration
    }
  }
}
