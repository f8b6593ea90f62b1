/**
 * The UI's behaviour, kept out of the components: it turns key presses into daemon requests,
 * shows every request on screen before the daemon answers (optimistic state, status line), turns
 * daemon events and replies into the confirmed outcome, and survives a daemon that errs or dies.
 */
import os from 'node:os';
import type { DaemonEvent, RequestType } from '../protocol/messages.js';
import type { PayloadArgs, ResponseOf } from '../protocol/replies.js';
import type { StoredLogLine } from '../journal/logs.js';
import { isTerminalState } from '../supervisor/types.js';
import { errorText, type ConnectFn, type TuiClient } from './client.js';
import { formatDuration, oneLine } from './format.js';
import { actionFor, splitInput, type Action, type KeyInfo } from './keys.js';
import { clampPageScroll, detailLines, helpLines } from './pages.js';
import { filePrefs, type PrefsStore } from './prefs.js';
import { isActive, LOG_RING, pageHeight, type MachineLoad, type TaskView, type TuiStore } from './store.js';

export type QuitHow = 'stopped' | 'detached' | 'idle' | 'disconnected';

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

type TaskOp = { op: 'cancel' | 'kill' | 'restart'; at: number; attempt: number };

/** The actions that need the daemon: pressed while it is being reached, they wait for it, in order. */
type DaemonAction = Extract<Action, { type: 'template' | 'cancel' | 'kill' | 'restart' | 'stopAll' }>;
const DAEMON_ACTIONS = new Set<Action['type']>(['template', 'cancel', 'kill', 'restart', 'stopAll']);

/** A key pressed while connecting. `target`: the task it acts on (its id, or the task an earlier queued start makes). */
interface Waiting {
  action: DaemonAction;
  target?: string | typeof NEXT_STARTED;
  label: string;
}
const NEXT_STARTED = Symbol('the task started by the request before');

export function systemLoad(): MachineLoad {
  const total = os.totalmem();
  return { load1: os.loadavg()[0]!, cpus: os.availableParallelism(), memUsedFraction: total > 0 ? 1 - os.freemem() / total : 0 };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function logLineText({ line, stream }: StoredLogLine): string {
  return stream === 'stderr' ? `! ${line}` : line;
}

export class Controller {
  readonly store: TuiStore;
  readonly done: Promise<QuitResult>;
  #connect: ConnectFn;
  #client: TuiClient | undefined;
  #connecting = false;
  #startedDaemon = false;
  #ops = new Map<string, TaskOp>();
  #finished = false;
  #resolveDone!: (result: QuitResult) => void;
  #timers: NodeJS.Timeout[] = [];
  #logTimer: NodeJS.Timeout | undefined;
  #machineLoad: () => MachineLoad;
  #options: ControllerOptions;
  /** Requests made while the daemon was being reached, carried out once it is, in order. */
  #waiting: Waiting[] = [];
  #replaying = false;
  #detailsTimer: NodeJS.Timeout | undefined;
  #prefs: PrefsStore;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.store = options.store;
    this.#connect = options.connect;
    this.#machineLoad = options.machineLoad ?? systemLoad;
    this.#prefs = options.prefs ?? filePrefs;
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  get client(): TuiClient | undefined {
    return this.#client;
  }

  get startedDaemon(): boolean {
    return this.#startedDaemon;
  }

  /** Connects (starting a daemon when none runs) and starts the clocks. Never throws. */
  async start(): Promise<void> {
    const tick = setInterval(() => {
      this.store.setNow(Date.now());
      if (this.#anyActive()) this.store.changed();
    }, this.#options.tickMs ?? 1000);
    const load = setInterval(() => {
      this.#refreshLoad();
      this.store.changed();
    }, this.#options.loadMs ?? 2000);
    tick.unref();
    load.unref();
    this.#timers.push(tick, load);
    this.#refreshLoad();
    await this.#connectAndSubscribe(false);
  }

  dispose(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#logTimer) clearTimeout(this.#logTimer);
    if (this.#detailsTimer) clearTimeout(this.#detailsTimer);
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
      if (mode === 'help' && action.type !== 'scroll' && action.type !== 'closeOverlay' && action.type !== 'help' && action.type !== 'quit' && action.type !== 'interrupt') {
        this.store.setMode('normal');
      } else if (mode === 'details' && (action.type === 'template' || action.type === 'clearFinished' || action.type === 'toggleLog' || action.type === 'reconnect' || action.type === 'quit' || action.type === 'interrupt')) {
        this.#closeDetails();
      }
      if (DAEMON_ACTIONS.has(action.type) && (this.#connecting || this.#replaying)) {
        this.#wait(action as DaemonAction);
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
        return this.#startTemplate(action.key);
      case 'move': {
        const page = Math.max(1, store.pageSize - 1);
        const delta = action.delta === 'pageUp' ? -page : action.delta === 'pageDown' ? page : action.delta;
        store.moveSelection(delta);
        this.#selectionChanged();
        return store.changed(true);
      }
      case 'cancel':
        return this.#taskOp('cancel');
      case 'kill':
        return this.#taskOp('kill');
      case 'restart':
        return this.#taskOp('restart');
      case 'stopAll':
        return this.#stopAll();
      case 'details':
        return this.#openDetails();
      case 'scroll':
        return this.#scroll(action.delta);
      case 'toggleLog': {
        const open = !store.draft.logPane;
        store.setLogPane(open);
        if (open) this.#loadLog(true);
        return store.changed(true);
      }
      case 'clearFinished': {
        const { count } = store.clearFinished();
        store.setStatus(count > 0 ? `Cleared ${plural(count, 'finished row')}.` : 'No finished rows to clear.', 'info');
        if (count > 0) this.#saveCleared();
        this.#selectionChanged();
        return store.changed(true);
      }
      case 'help':
        if (store.draft.mode === 'help') store.setMode('normal');
        else {
          if (store.draft.mode === 'details') this.#closeDetails();
          store.setHelpScroll(0);
          store.setMode('help');
        }
        return store.changed(true);
      case 'closeOverlay':
        if (store.draft.mode === 'help') store.setMode('normal');
        else if (store.draft.mode === 'details') this.#closeDetails();
        else if (store.draft.logPane) store.setLogPane(false);
        return store.changed(true);
      case 'quit':
      case 'interrupt':
        return this.#quit();
      case 'quitStop':
        return void this.#quitStop();
      case 'quitDetach':
        return this.#finish('detached');
      case 'quitStay':
        store.setMode('normal');
        store.setStatus('Still here: nothing was stopped.', 'info');
        return store.changed(true);
      case 'reconnect':
        return this.#reconnect();
    }
  }

  // ---- requests made while the daemon is being reached ----------------------------------------------

  #waitLabel(action: DaemonAction, target: Waiting['target']): string {
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

  /** Keeps a request for when the daemon is up (in order), and says so at once. */
  #wait(action: DaemonAction): void {
    const store = this.store;
    let target: Waiting['target'];
    if (action.type === 'cancel' || action.type === 'kill' || action.type === 'restart') {
      target = store.draft.selectedId;
      if (target === undefined) {
        // nothing selected: it can only mean a task started by a request already waiting
        if (!this.#waiting.some((w) => w.action.type === 'template')) {
          const key = action.type === 'cancel' ? 'k' : action.type === 'kill' ? 'K' : 'r';
          store.setStatus(`${key}: no task selected. The daemon is not up yet; once it lists its tasks, select one and press ${key} again.`, 'warn');
          store.changed(true);
          return;
        }
        target = NEXT_STARTED;
      }
    }
    if (action.type === 'template' && !store.draft.templates.some((t) => t.key === action.key)) {
      void this.#startTemplate(action.key); // answered at once: no such template
      return;
    }
    this.#waiting.push({ action, ...(target !== undefined ? { target } : {}), label: this.#waitLabel(action, target) });
    if (this.#connecting) this.#sayConnecting();
    else store.changed(true);
  }

  /** The status line while connecting: what is under way, and what waits for it. */
  #sayConnecting(text?: string): void {
    const store = this.store;
    const base = text ?? (store.draft.daemon.kind === 'connecting' && store.draft.daemon.text === 'starting…' ? 'Starting the daemon…' : 'Connecting to the daemon…');
    const n = this.#waiting.length;
    store.setStatus(
      n === 0 ? base : `${base} ${n === 1 ? 'your request' : `${n} requests`} will run when it is up: ${this.#waiting.map((w) => w.label).join(', ')}`,
      'busy',
    );
    store.changed(true);
  }

  /** Carries out what was asked while connecting, in order. */
  async #replay(): Promise<void> {
    if (this.#replaying) return;
    this.#replaying = true;
    let started: string | undefined;
    let startFailed = false;
    try {
      for (let next = this.#waiting.shift(); next; next = this.#waiting.shift()) {
        if (this.#finished) return;
        const { action, target } = next;
        if (action.type === 'template') {
          started = await this.#startTemplate(action.key);
          startFailed = started === undefined;
        } else if (action.type === 'stopAll') {
          await this.#stopAll();
        } else {
          const id = target === NEXT_STARTED ? started : target;
          if (id === undefined) {
            this.store.setStatus(`Not done: ${next.label}: ${startFailed ? 'that start failed' : 'no such task'}.`, 'warn');
            this.store.changed(true);
            continue;
          }
          await this.#taskOp(action.type, id);
        }
      }
    } finally {
      this.#replaying = false;
    }
  }

  /** The daemon could not be reached: what waited for it is not done; say which. */
  #dropWaiting(): string {
    const labels = this.#waiting.map((w) => w.label);
    this.#waiting = [];
    return labels.length === 0 ? '' : ` Not done: ${labels.join(', ')}.`;
  }

  // ---- daemon connection ------------------------------------------------------------------------

  async #connectAndSubscribe(autostart: boolean): Promise<void> {
    if (this.#connecting) return;
    this.#connecting = true;
    const store = this.store;
    try {
      store.setDaemon({ kind: 'connecting', text: autostart ? 'starting…' : 'connecting…' });
      this.#sayConnecting(autostart ? 'Starting the daemon…' : 'Connecting to the daemon…');
      let client: TuiClient;
      try {
        client = await this.#connect({ autostart });
        if (autostart) this.#startedDaemon = true;
      } catch (first) {
        // only "no daemon serves this home" means: start one; anything else is a real problem
        const code = (first as { code?: unknown }).code;
        if (autostart || (code !== undefined && code !== 'NO_DAEMON')) throw first;
        store.setDaemon({ kind: 'connecting', text: 'starting…' });
        this.#sayConnecting('No daemon running: starting one…');
        client = await this.#connect({ autostart: true });
        this.#startedDaemon = true;
      }
      if (this.#finished) {
        client.close();
        return;
      }
      await this.#attach(client);
    } catch (error) {
      store.setDaemon({ kind: 'disconnected', reason: errorText(error) });
      store.setStatus(`Cannot reach the daemon: ${oneLine(errorText(error))}. Press R to try again.${this.#dropWaiting()}`, 'error');
      store.changed(true);
      return;
    } finally {
      this.#connecting = false;
    }
    if (this.#client && !this.#client.closed) await this.#replay();
    else if (this.#waiting.length > 0) {
      store.setStatus(`The daemon went away while connecting. Press R to start it again.${this.#dropWaiting()}`, 'error');
      store.changed(true);
    }
  }

  async #attach(client: TuiClient): Promise<void> {
    const store = this.store;
    let ready = false;
    const early: DaemonEvent[] = [];
    client.onEvent((event) => {
      if (client !== this.#client) return;
      if (!ready) early.push(event);
      else this.#onEvent(event);
    });
    client.onClose((error) => this.#onClose(client, error));
    this.#client = client;
    const tasks = await client.subscribe();
    if (client !== this.#client) return;
    this.#loadCleared(client.welcome.home);
    store.replaceTasks(tasks);
    ready = true;
    for (const event of early) this.#onEvent(event);
    const { daemonPid, home, health } = client.welcome;
    store.setDaemon({ kind: 'connected', pid: daemonPid, home });
    store.setHealth(health);
    const active = tasks.filter((t) => !isTerminalState(t.state)).length;
    store.setStatus(
      `${this.#startedDaemon ? 'Started' : 'Connected to'} the daemon (pid ${daemonPid})` +
        (tasks.length > 0 ? ` · ${plural(tasks.length, 'task')} known, ${active} active` : '') +
        ' · press 1-9 to start a task, ? for help',
      'success',
    );
    if (store.draft.logPane) this.#loadLog(true);
    if (store.draft.details) this.#loadDetails(store.draft.details.taskId, false);
    store.changed(true);
  }

  #loadCleared(home: string): void {
    try {
      const saved = this.#prefs.load(home).clearedThrough;
      const current = this.store.clearedThrough;
      if (saved !== undefined) this.store.setClearedThrough(Math.max(saved, current ?? saved));
    } catch {
      // nothing remembered
    }
  }

  #saveCleared(): void {
    const client = this.#client;
    const through = this.store.clearedThrough;
    if (!client || through === undefined) return;
    try {
      const home = client.welcome.home;
      const prefs = this.#prefs.load(home);
      this.#prefs.save(home, { ...prefs, clearedThrough: Math.max(prefs.clearedThrough ?? through, through) });
    } catch (error) {
      this.store.setStatus(`Cleared, for this session only: could not remember it (${oneLine(errorText(error))}).`, 'warn');
    }
  }

  async #reconnect(): Promise<void> {
    if (this.#connecting) {
      this.#sayConnecting();
      return;
    }
    if (this.#client && !this.#client.closed) {
      this.store.setStatus(`Already connected to the daemon (pid ${this.#client.welcome.daemonPid}).`, 'info');
      this.store.changed(true);
      return;
    }
    await this.#connectAndSubscribe(true);
  }

  #onClose(client: TuiClient, error: Error | undefined): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    if (this.#finished) return;
    const store = this.store;
    this.#ops.clear();
    store.clearAllPending();
    const reason = error ? oneLine(errorText(error)) : 'connection closed';
    store.setDaemon({ kind: 'disconnected', reason });
    store.setHealth(undefined);
    if (store.draft.mode === 'quitting') {
      // the daemon took its tasks with it (its orphan guard stops them): nothing left to stop
      this.#finish('disconnected');
      return;
    }
    if (store.draft.mode === 'quit') store.setMode('normal');
    store.setStatus(`The daemon is gone (${reason}); tasks are shown as last seen. Press R to start it again.`, 'error');
    store.changed(true);
  }

  #notConnected(): boolean {
    if (this.#client && !this.#client.closed) return false;
    this.store.setStatus(
      this.#connecting ? 'Still connecting to the daemon…' : 'Not connected to the daemon. Press R to start it again.',
      this.#connecting ? 'busy' : 'warn',
    );
    this.store.changed(true);
    return true;
  }

  // ---- events --------------------------------------------------------------------------------------

  #onEvent(event: DaemonEvent): void {
    const store = this.store;
    switch (event.type) {
      case 'TASK_STATUS':
      case 'TASK_COMPLETE': {
        const view = store.upsertTask(event.task);
        if (view) this.#observe(view);
        if (store.draft.details?.taskId === event.task.id) this.#refreshDetails(event.task.id, event.type === 'TASK_COMPLETE');
        break;
      }
      case 'TASK_PROGRESS':
        store.setProgress(event.taskId, event.progress);
        break;
      case 'TASK_STALL':
        store.setStall(event.taskId, event.stall);
        break;
      case 'TASK_USAGE':
        store.setUsage(event.taskId, event.usage);
        break;
      case 'TASK_LOG':
        store.appendLog(event.log.taskId, oneLine(event.log.stream === 'stderr' ? `! ${event.log.line}` : event.log.line));
        break;
      case 'SNAPSHOT':
        store.replaceTasks(event.tasks);
        break;
      case 'DAEMON_HEALTH':
        store.setHealth(event.health);
        break;
    }
    store.changed();
  }

  /** Turns a task change into the confirmed outcome of an operation asked for on this screen. */
  #observe(task: TaskView): void {
    const op = this.#ops.get(task.id);
    if (!op) return;
    const ms = performance.now() - op.at;
    if (op.op === 'restart') {
      if (task.attempt <= op.attempt) return;
      if (task.state === 'running' || isTerminalState(task.state)) {
        this.#ops.delete(task.id);
        this.store.setStatus(`Task ${task.id} restarted: attempt ${task.attempt} ${task.state} (${formatDuration(ms)})`, task.state === 'failed' ? 'warn' : 'success');
        this.store.changed(true);
      }
      return;
    }
    if (!isTerminalState(task.state) || task.attempt !== op.attempt) return;
    this.#ops.delete(task.id);
    const signal = task.outcome?.signal;
    let text: string;
    let tone: 'success' | 'warn' = 'success';
    switch (task.state) {
      case 'killed':
        text = `Task ${task.id} killed (${signal ?? 'SIGKILL'}) after ${formatDuration(ms)}`;
        if (op.op === 'cancel') text += ': it ignored the cancel, so it was killed when the grace period ran out';
        break;
      case 'cancelled':
        text = `Task ${task.id} cancelled after ${formatDuration(ms)}`;
        break;
      case 'completed':
        text = `Task ${task.id} completed before the ${op.op} took effect (${formatDuration(ms)})`;
        tone = 'warn';
        break;
      default:
        text = `Task ${task.id} ${task.state} after ${formatDuration(ms)}${task.outcome?.error ? `: ${oneLine(task.outcome.error.message)}` : ''}`;
        tone = 'warn';
    }
    this.store.setStatus(text, tone);
    this.store.changed(true);
  }

  // ---- operations ---------------------------------------------------------------------------------

  async #request<T extends RequestType>(type: T, ...payload: PayloadArgs<T>): Promise<ResponseOf<T>> {
    const client = this.#client;
    if (!client || client.closed) throw new Error('not connected to the daemon');
    return client.request(type, ...payload);
  }

  /** Starts template `key`; resolves with the new task's id (undefined when it did not start). */
  async #startTemplate(key: number): Promise<string | undefined> {
    const store = this.store;
    const template = store.draft.templates.find((t) => t.key === key);
    if (!template) {
      const n = store.draft.templates.length;
      store.setStatus(n > 0 ? `No template ${key}: templates are 1-${n} (? lists them).` : 'No templates configured.', 'warn');
      store.changed(true);
      return undefined;
    }
    if (this.#notConnected()) return undefined;
    store.setStatus(`Starting template ${key}: ${template.name}…`, 'busy');
    this.#paint([]);
    store.changed(true);
    const at = performance.now();
    try {
      const { task } = await this.#request('TASK_REQUEST', { spec: template.spec });
      store.upsertTask(task, true);
      store.select(task.id);
      this.#selectionChanged();
      store.setStatus(`Started task ${task.id}: ${task.name} (${formatDuration(performance.now() - at)})`, 'success');
      store.changed(true);
      return task.id;
    } catch (error) {
      if (this.#client === undefined) return undefined; // the close handler has said what happened
      store.setStatus(`Could not start “${template.name}”: ${oneLine(errorText(error))}`, 'error');
    }
    store.changed(true);
    return undefined;
  }

  /** `taskId`: the task to act on (a request made while connecting); default the selected one. */
  async #taskOp(op: 'cancel' | 'kill' | 'restart', taskId?: string): Promise<void> {
    const store = this.store;
    const id = taskId ?? store.draft.selectedId;
    const task = id === undefined ? undefined : store.task(id);
    if (!task) {
      store.setStatus(taskId !== undefined ? `Task ${taskId} is not known to the daemon: nothing to ${op}.` : 'No task selected: start one with 1-9.', 'warn');
      store.changed(true);
      return;
    }
    if (op !== 'restart' && isTerminalState(task.state)) {
      store.setStatus(`Task ${task.id} has already ${task.state === 'completed' ? 'completed' : `ended (${task.state})`}; r runs it again.`, 'info');
      store.changed(true);
      return;
    }
    if (this.#notConnected()) return;
    const at = performance.now();
    // On screen first, in this very frame; the daemon is asked afterwards.
    store.setPending(task.id, op);
    this.#ops.set(task.id, { op, at, attempt: task.attempt });
    store.setStatus(
      op === 'cancel'
        ? `Cancelling task ${task.id} (SIGTERM; SIGKILL if it is still there after the grace period)…`
        : op === 'kill'
          ? `Killing task ${task.id} (SIGKILL to its process group)…`
          : `Restarting task ${task.id} (attempt ${task.attempt + 1})…`,
      'busy',
    );
    this.#paint([task.id]);
    store.changed(true);
    const type = op === 'cancel' ? 'TASK_CANCEL' : op === 'kill' ? 'TASK_KILL' : 'TASK_RESTART';
    try {
      const reply = await this.#request(type, { taskId: task.id });
      const view = store.upsertTask(reply.task, true);
      if (view) this.#observe(view);
      store.changed();
    } catch (error) {
      if (this.#client === undefined) return;
      this.#ops.delete(task.id);
      store.setPending(task.id, undefined);
      const verb = op === 'cancel' ? 'Cancel' : op === 'kill' ? 'Kill' : 'Restart';
      store.setStatus(`${verb} of task ${task.id} failed: ${oneLine(errorText(error))}`, 'error');
      store.changed(true);
    }
  }

  #activeTasks(): TaskView[] {
    return [...this.store.draft.tasks.values()].filter(isActive);
  }

  #anyActive(): boolean {
    for (const t of this.store.draft.tasks.values()) if (isActive(t)) return true;
    return false;
  }

  async #stopAll(): Promise<void> {
    const store = this.store;
    const active = this.#activeTasks();
    if (active.length === 0) {
      store.setStatus('Nothing to stop: no task is running.', 'info');
      store.changed(true);
      return;
    }
    if (this.#notConnected()) return;
    const at = performance.now();
    for (const t of active) {
      store.setPending(t.id, 'stop');
      this.#ops.delete(t.id);
    }
    store.setStatus(`Emergency stop — terminating ${plural(active.length, 'task')}…`, 'busy');
    this.#paint(active.map((t) => t.id));
    store.changed(true);
    try {
      const { cancelled, killed, notStarted, finished } = (await this.#request('STOP_ALL')).result;
      const parts = [`${cancelled} cancelled`, `${killed} killed`];
      if (notStarted > 0) parts.push(`${notStarted} not started`);
      if (finished > 0) parts.push(`${finished} finished on their own`);
      store.setStatus(`Stopped ${plural(cancelled + killed + notStarted, 'task')} in ${formatDuration(performance.now() - at)} (${parts.join(', ')})`, 'success');
    } catch (error) {
      if (this.#client === undefined) return;
      store.setStatus(`Emergency stop failed: ${oneLine(errorText(error))}`, 'error');
    }
    for (const t of active) store.setPending(t.id, undefined);
    store.changed(true);
  }

  // ---- pages: help and details ----------------------------------------------------------------------

  #scroll(delta: number | 'start' | 'end' | 'pageUp' | 'pageDown'): void {
    const store = this.store;
    const draft = store.draft;
    const width = Math.max(20, draft.size.columns);
    const height = pageHeight(draft.size.rows);
    let lines: number;
    let current: number;
    if (draft.mode === 'help') {
      lines = helpLines(draft.templates, draft.templatesSource, width).length;
      current = draft.helpScroll;
    } else if (draft.mode === 'details' && draft.details) {
      lines = detailLines({ task: draft.tasks.get(draft.details.taskId), details: draft.details, now: draft.now }, width).length;
      current = draft.details.scroll;
    } else return;
    const page = Math.max(1, height - 2);
    const from = clampPageScroll(current, lines, height);
    const to = delta === 'start' ? 0 : delta === 'end' ? lines : delta === 'pageUp' ? from - page : delta === 'pageDown' ? from + page : from + delta;
    const next = clampPageScroll(Math.max(0, to), lines, height);
    if (draft.mode === 'help') store.setHelpScroll(next);
    else store.updateDetails(draft.details!.taskId, (d) => ({ ...d, scroll: next }));
    store.changed(true);
  }

  #openDetails(): void {
    const store = this.store;
    const id = store.draft.selectedId;
    if (id === undefined || !store.task(id)) {
      store.setStatus('No task selected: start one with 1-9, then Enter shows its details.', 'warn');
      store.changed(true);
      return;
    }
    store.setDetails({ taskId: id, scroll: 0, loading: true, log: { taskId: id, lines: [...(store.logs.get(id) ?? [])], loading: true } });
    store.setMode('details');
    this.#loadDetails(id, true);
    store.changed(true);
  }

  #closeDetails(): void {
    if (this.#detailsTimer) clearTimeout(this.#detailsTimer);
    this.#detailsTimer = undefined;
    this.store.setDetails(undefined);
    if (this.store.draft.mode === 'details') this.store.setMode('normal');
  }

  /** The task shown changed state: fetch its record again (soon, once for a burst of changes). */
  #refreshDetails(taskId: string, withLog: boolean): void {
    if (this.#detailsTimer) clearTimeout(this.#detailsTimer);
    this.#detailsTimer = setTimeout(() => {
      this.#detailsTimer = undefined;
      this.#loadDetails(taskId, withLog);
    }, 100);
  }

  /** Fetches the journal record (attempts) and, with `withLog`, the log tail of the task shown. */
  #loadDetails(taskId: string, withLog: boolean): void {
    const store = this.store;
    const client = this.#client;
    if (!client || client.closed) {
      store.updateDetails(taskId, (d) => ({ ...d, loading: false, error: 'not connected to the daemon', log: { ...d.log, loading: false } }));
      return;
    }
    void (async () => {
      try {
        const { attempts } = await client.request('GET', { taskId });
        store.updateDetails(taskId, (d) => {
          const { error: _error, ...rest } = d;
          return { ...rest, attempts, loading: false };
        });
      } catch (error) {
        store.updateDetails(taskId, (d) => ({ ...d, loading: false, error: oneLine(errorText(error)) }));
      }
      store.changed();
    })();
    if (!withLog) return;
    void (async () => {
      try {
        const reply = await client.request('LOGS', { taskId, tailBytes: this.#options.logTailBytes ?? 32_768 });
        const lines = reply.lines.map(logLineText).map(oneLine).slice(-LOG_RING);
        store.updateDetails(taskId, (d) => ({ ...d, log: { taskId, ...(reply.attempt !== null ? { attempt: reply.attempt } : {}), lines, loading: false } }));
      } catch (error) {
        store.updateDetails(taskId, (d) => ({ ...d, log: { taskId, lines: [...(store.logs.get(taskId) ?? [])], loading: false, error: oneLine(errorText(error)) } }));
      }
      store.changed();
    })();
  }

  // ---- log pane -------------------------------------------------------------------------------------

  #selectionChanged(): void {
    if (!this.store.draft.logPane) return;
    const id = this.store.draft.selectedId;
    if (id === undefined || id === this.store.draft.logView?.taskId) return;
    // show what is at hand now; fetch the stored tail once the selection rests
    this.#loadLog(false);
    if (this.#logTimer) clearTimeout(this.#logTimer);
    this.#logTimer = setTimeout(() => {
      this.#logTimer = undefined;
      this.#loadLog(true);
    }, 80);
  }

  #loadLog(fetch: boolean): void {
    const store = this.store;
    const id = store.draft.selectedId;
    if (id === undefined) {
      store.setLogView(undefined);
      return;
    }
    const ring = store.logs.get(id) ?? [];
    const client = this.#client;
    const canFetch = fetch && client !== undefined && !client.closed;
    store.setLogView({ taskId: id, lines: [...ring], loading: canFetch });
    if (!canFetch) return;
    void (async () => {
      try {
        const reply = await client.request('LOGS', { taskId: id, tailBytes: this.#options.logTailBytes ?? 32_768 });
        const lines = reply.lines.map(logLineText).map(oneLine).slice(-LOG_RING);
        if (store.draft.logView?.taskId !== id) return;
        store.setLogView({ taskId: id, ...(reply.attempt !== null ? { attempt: reply.attempt } : {}), lines, loading: false });
      } catch (error) {
        if (store.draft.logView?.taskId !== id) return;
        store.setLogView({ taskId: id, lines: [...(store.logs.get(id) ?? [])], loading: false, error: oneLine(errorText(error)) });
      }
      store.changed();
    })();
  }

  // ---- quitting ----------------------------------------------------------------------------------------

  #quit(): void {
    const store = this.store;
    const connected = this.#client !== undefined && !this.#client.closed;
    const active = this.#activeTasks().length;
    if (!connected || active === 0) {
      this.#finish(connected ? 'idle' : 'disconnected');
      return;
    }
    store.setMode('quit');
    store.changed(true);
  }

  async #quitStop(): Promise<void> {
    const store = this.store;
    const active = this.#activeTasks();
    store.setMode('quitting');
    for (const t of active) store.setPending(t.id, 'stop');
    store.setStatus(`Stopping ${plural(active.length, 'task')} before quitting…`, 'busy');
    store.changed(true);
    try {
      await this.#request('STOP_ALL');
      this.#finish('stopped');
    } catch (error) {
      if (this.#finished) return;
      if (this.#client === undefined || this.#client.closed) {
        this.#finish('disconnected');
        return;
      }
      for (const t of active) store.setPending(t.id, undefined);
      store.setMode('normal');
      store.setStatus(`Could not stop the tasks (${oneLine(errorText(error))}); they may still run. Press q to try again, or q then d to detach.`, 'error');
      store.changed(true);
    }
  }

  #finish(how: QuitHow): void {
    if (this.#finished) return;
    this.#finished = true;
    const client = this.#client && !this.#client.closed ? this.#client : undefined;
    const active = how === 'detached' ? this.#activeTasks().length : 0;
    this.#resolveDone({ how, active, ...(client ? { client } : {}), startedDaemon: this.#startedDaemon });
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
      this.store.setLoad(this.#machineLoad());
    } catch {
      // load is decoration
    }
  }
}
