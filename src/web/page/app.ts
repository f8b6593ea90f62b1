/**
 * The web page: the daemon's tasks, live, from one event stream (event-stream.ts), and the buttons,
 * each a POST of a protocol request (row-actions.ts, stop-all.ts, template-buttons.ts). This file
 * holds the page's state (the tasks, the clicks waiting for their outcome, the rows to redraw) and
 * composes the parts: messages in, rows drawn in frames (frames.ts), only those that changed and
 * are on screen (view.ts). `window.taskwarden` exposes the click metrics and a frame recorder for
 * the benchmark.
 */
import { ClickMetrics, type ClickMetric } from './click-metrics.js';
import { DetailsPane } from './details.js';
import { byId, setText } from './dom.js';
import { EventStream } from './event-stream.js';
import { FrameScheduler } from './frames.js';
import { showBackend, showBanner, showStatus, type StatusTone } from './header.js';
import {
  applyEvent,
  byCreation,
  isTerminal,
  type PageMessage,
  type TaskEvent,
  type WireBackendState,
  type WireTask,
} from './model.js';
import { postJson } from './post-json.js';
import { RowActions, type ActionHost } from './row-actions.js';
import { StopAllButton } from './stop-all.js';
import { showTemplateButtons } from './template-buttons.js';
import { TaskTable, type Pending } from './view.js';

const TICK_MS = 1000;

class App implements ActionHost {
  readonly tasks = new Map<string, WireTask>();
  readonly pending = new Map<string, Pending>();
  /** Writes the status line (ActionHost); declared before the parts that are given it. */
  readonly status = (text: string, tone: StatusTone): void => showStatus(text, tone, this.now());
  readonly #clicks = new ClickMetrics();
  readonly #table: TaskTable;
  readonly #frames = new FrameScheduler(() => this.#draw());
  readonly #stream = new EventStream({
    message: (message, seq) => this.#onMessage(message, seq),
    banner: showBanner,
  });
  readonly #details = new DetailsPane(this.tasks, this.status);
  readonly #rowActions = new RowActions(this, this.#clicks);
  readonly #dirty = new Set<string>();
  readonly #stallSeenAt = new Map<string, number>();
  #orderChanged = true;
  #clockOffset = 0;
  #daemon: WireBackendState | undefined;

  constructor() {
    this.#table = new TaskTable(document.getElementById('task-rows') as HTMLTableSectionElement, {
      action: (id, action, event) => this.#rowActions.click(id, action, event),
      select: (id) => this.#select(id),
      visible: (ids) => {
        for (const id of ids) this.#dirty.add(id);
        this.#frames.request();
      },
    });
    new StopAllButton(this, this.#clicks);
    byId('start-daemon').addEventListener('click', () => void this.#startDaemon());
    byId('details-close').addEventListener('click', () => this.#select(undefined));
    setInterval(() => this.#tick(), TICK_MS);
  }

  /** The daemon's clock (its snapshot says its time): what elapsed times are counted from. */
  now(): number {
    return Date.now() + this.#clockOffset;
  }

  start(): void {
    void showTemplateButtons(this.status);
    this.#stream.connect();
  }

  // ---- for the benchmark (window.taskwarden) ----

  get metrics(): ClickMetric[] {
    return this.#clicks.list;
  }

  get eventsReceived(): number {
    return this.#stream.received;
  }

  recordFrames(): void {
    this.#frames.record();
  }

  stopFrames(): { deltas: number[]; work: number[] } {
    return this.#frames.stopRecording();
  }

  // ---- what the parts change (ActionHost) ----

  renderRow(id: string): void {
    this.#drawRow(id, this.now());
  }

  markChanged(id: string): void {
    this.#dirty.add(id);
  }

  requestFrame(): void {
    this.#frames.request();
  }

  // ---- messages in ----

  #onMessage(message: PageMessage, seq: number): void {
    switch (message.type) {
      case 'SNAPSHOT':
        this.#onSnapshot(message.tasks, message.daemon, message.now);
        break;
      case 'DAEMON_STATE':
        this.#setDaemon(message.daemon);
        break;
      case 'DAEMON_HEALTH':
        if (this.#daemon) this.#setDaemon({ ...this.#daemon, health: message.health });
        break;
      case 'TASK_LOG':
        // Written to the details straight away; the table does not change.
        this.#details.onLog(message.log, seq);
        return;
      default:
        this.#onTaskEvent(message);
        // Progress, usage and stall reports come in floods: they wait for the next paced frame.
        this.#frames.request(message.type !== 'TASK_STATUS' && message.type !== 'TASK_COMPLETE');
        return;
    }
    this.#frames.request();
  }

  #onSnapshot(tasks: WireTask[], daemon: WireBackendState, now: number): void {
    this.#clockOffset = now - Date.now();
    this.tasks.clear();
    for (const task of tasks) this.tasks.set(task.id, task);
    for (const id of this.pending.keys()) if (!this.tasks.has(id)) this.pending.delete(id);
    for (const task of tasks) this.#rowActions.observe(task);
    this.#setDaemon(daemon);
    this.#orderChanged = true;
    for (const id of this.tasks.keys()) this.#dirty.add(id);
    if (this.#details.selected) this.#details.refresh(true);
  }

  #onTaskEvent(message: Exclude<TaskEvent, { type: 'TASK_LOG' }>): void {
    const known = 'task' in message ? this.tasks.has(message.task.id) : true;
    const id = applyEvent(this.tasks, message);
    if (!id) return;
    if (!known) this.#orderChanged = true;
    if (message.type === 'TASK_STALL') this.#stallSeenAt.set(id, Date.now());
    this.#dirty.add(id);
    this.#rowActions.observe(this.tasks.get(id)!);
    if (id === this.#details.selected && 'task' in message) this.#details.refresh(false);
  }

  #setDaemon(daemon: WireBackendState): void {
    if (daemon.pause !== this.#daemon?.pause) {
      this.#table.canPause = daemon.pause;
      for (const id of this.tasks.keys()) this.#dirty.add(id);
    }
    this.#daemon = daemon;
    showBackend(daemon);
  }

  // ---- drawing ----

  #draw(): void {
    if (this.#orderChanged) {
      this.#orderChanged = false;
      this.#table.arrange([...this.tasks.values()].sort(byCreation).map((t) => t.id));
      byId('empty').hidden = this.tasks.size > 0;
    }
    const now = this.now();
    // Rows off screen stay dirty until they come on screen (TaskTable's visible callback).
    for (const id of this.#dirty) {
      if (!this.#table.isOnScreen(id)) continue;
      this.#drawRow(id, now);
      this.#dirty.delete(id);
    }
    this.#drawCounts();
  }

  #drawRow(id: string, now: number): void {
    const task = this.tasks.get(id);
    if (!task) return;
    const seenAt = this.#stallSeenAt.get(id);
    this.#table.render(task, this.pending.get(id), now, seenAt === undefined ? 0 : Date.now() - seenAt);
  }

  #drawCounts(): void {
    let running = 0;
    let queued = 0;
    let finished = 0;
    for (const task of this.tasks.values()) {
      if (task.state === 'queued') queued += 1;
      else if (isTerminal(task.state)) finished += 1;
      else running += 1;
    }
    setText(byId('counts'), `${running} running · ${queued} queued · ${finished} finished`);
  }

  /** Elapsed times move on; a stalled task's warning counts up. */
  #tick(): void {
    this.#table.tick(this.now());
    for (const [id, task] of this.tasks)
      if (task.stall && !isTerminal(task.state) && this.#table.isOnScreen(id)) this.#dirty.add(id);
    this.#frames.request();
  }

  #select(id: string | undefined): void {
    this.#table.select(id);
    this.#details.select(id);
  }

  async #startDaemon(): Promise<void> {
    this.status('Starting the daemon…', 'busy');
    try {
      await postJson('/api/daemon/start', {});
      this.status('The daemon is running.', 'success');
    } catch (error) {
      this.status(`Could not start the daemon: ${(error as Error).message}`, 'error');
    }
  }
}

const app = new App();
(window as unknown as { taskwarden: App }).taskwarden = app;
app.start();
