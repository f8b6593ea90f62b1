/**
 * The UI's state: a working copy that daemon events and keys change cheaply, and the committed
 * copy React draws. Task views are immutable objects, replaced on change, so memoized rows
 * re-render only when their task changed; when a commit happens is the frame scheduler's.
 */
import { type Progress, type ResourceUsage, type StallInfo } from '../supervisor/types.js';
import { isFinishedState, type RecordedTask } from '../journal/recorded-state.js';
import type { DaemonHealth } from '../protocol/messages.js';
import type { Template } from '../tasks/templates.js';
import { ClearedRows } from './cleared-rows.js';
import { FrameScheduler } from './frame-scheduler.js';
import { movedSelection, rowNear, scrollTopFor } from './selection.js';
import { STATE_RANK, viewFromSnapshot, type PendingOp, type TaskView } from './task-view.js';
import {
  LOG_RING,
  visibleRowCount,
  type DaemonStatus,
  type DetailsView,
  type LogView,
  type MachineLoad,
  type Mode,
  type Tone,
  type UiState,
} from './ui-state.js';

function compareIds(a: TaskView, b: TaskView): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  const na = Number(a.id);
  const nb = Number(b.id);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export type Listener = () => void;

export interface StoreOptions {
  templates?: readonly Template[];
  templatesSource?: string;
  size?: { columns: number; rows: number };
  /** Minimum time between two background commits. Default 33 ms (~30 fps). */
  frameMs?: number;
  now?: () => number;
  /** Attached to a cluster (UiState.cluster), not the local daemon. */
  cluster?: string;
}

export class TuiStore {
  #state: UiState;
  #tasks = new Map<string, TaskView>();
  readonly #cleared = new ClearedRows();
  #orderDirty = false;
  #listeners = new Set<Listener>();
  /** Recent log lines per task (from TASK_LOG events), newest last. */
  readonly logs = new Map<string, string[]>();
  readonly #frames: FrameScheduler;
  #draft: Omit<UiState, 'tasks' | 'frame'>;

  constructor(options: StoreOptions = {}) {
    this.#frames = new FrameScheduler(() => this.commit(), options.frameMs ?? 33);
    this.#draft = {
      daemon: { kind: 'connecting', text: 'connecting…' },
      ...(options.cluster !== undefined ? { cluster: options.cluster } : {}),
      order: [],
      scrollTop: 0,
      status: { text: `Connecting to the ${options.cluster !== undefined ? 'cluster' : 'daemon'}…`, tone: 'busy' },
      mode: 'normal',
      logPane: false,
      helpScroll: 0,
      templates: options.templates ?? [],
      ...(options.templatesSource ? { templatesSource: options.templatesSource } : {}),
      size: options.size ?? { columns: 100, rows: 30 },
      now: Date.now(),
    };
    this.#state = { ...this.#draft, tasks: new Map(), frame: 0 };
  }

  // ---- React side -------------------------------------------------------------------------

  subscribe = (listener: Listener): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** The committed state (what is on screen). */
  getSnapshot = (): UiState => this.#state;

  /** The working state, including changes not yet committed. */
  get draft(): Readonly<Omit<UiState, 'tasks' | 'frame'>> & { tasks: ReadonlyMap<string, TaskView> } {
    this.#sortOrder();
    return { ...this.#draft, tasks: this.#tasks };
  }

  task(id: string): TaskView | undefined {
    return this.#tasks.get(id);
  }

  // ---- scheduling ---------------------------------------------------------------------------

  /** Publishes pending changes now (a key press: the next frame must show it). */
  commit(): void {
    this.#frames.committing();
    this.#sortOrder();
    this.#scroll();
    this.#state = { ...this.#draft, tasks: new Map(this.#tasks), frame: this.#state.frame + 1 };
    for (const listener of this.#listeners) listener();
  }

  /** Called when the renderer has drawn a frame (Ink's onRender): what the commit cost spaces the next. */
  frameRendered(): void {
    this.#frames.frameRendered();
  }

  /** Cost (ms) of recent frames, commit to drawn, once set to an array; for benchmarks. */
  get frameCosts(): number[] | undefined {
    return this.#frames.costs;
  }

  set frameCosts(costs: number[] | undefined) {
    this.#frames.costs = costs;
  }

  /** Marks the working state changed; `urgent` commits at once, otherwise within one frame. */
  changed(urgent = false): void {
    this.#frames.changed(urgent);
  }

  dispose(): void {
    this.#frames.dispose();
    this.#listeners.clear();
  }

  // ---- mutations (working state) ---------------------------------------------------------------

  setStatus(text: string, tone: Tone = 'info'): void {
    this.#draft.status = { text, tone };
  }

  setDaemon(daemon: DaemonStatus): void {
    this.#draft.daemon = daemon;
  }

  setHealth(health: DaemonHealth | undefined): void {
    if (health) this.#draft.health = health;
    else delete this.#draft.health;
  }

  setMode(mode: Mode): void {
    this.#draft.mode = mode;
  }

  setSize(size: { columns: number; rows: number }): void {
    this.#draft.size = size;
  }

  setLoad(load: MachineLoad): void {
    this.#draft.load = load;
  }

  setNow(now: number): void {
    this.#draft.now = now;
  }

  setTemplates(templates: readonly Template[], source?: string): void {
    this.#draft.templates = templates;
    if (source) this.#draft.templatesSource = source;
    else delete this.#draft.templatesSource;
  }

  setLogPane(open: boolean): void {
    this.#draft.logPane = open;
    if (!open) delete this.#draft.logView;
  }

  setLogView(view: LogView | undefined): void {
    if (view) this.#draft.logView = view;
    else delete this.#draft.logView;
  }

  setHelpScroll(scroll: number): void {
    this.#draft.helpScroll = Math.max(0, scroll);
  }

  setDetails(details: DetailsView | undefined): void {
    if (details) this.#draft.details = details;
    else delete this.#draft.details;
  }

  /** Changes the details view if it still shows `taskId`. */
  updateDetails(taskId: string, patch: (details: DetailsView) => DetailsView): void {
    const details = this.#draft.details;
    if (details && details.taskId === taskId) this.#draft.details = patch(details);
  }

  /**
   * Rows of tasks that ended at or before this time stay cleared (c, in an earlier session too);
   * a task that runs again ends later, and comes back.
   */
  setClearedThrough(at: number | undefined): void {
    this.#cleared.through = at;
  }

  get clearedThrough(): number | undefined {
    return this.#cleared.through;
  }

  /** Replaces every task with a daemon snapshot (after (re)connecting). */
  replaceTasks(tasks: readonly RecordedTask[]): void {
    const previous = this.#tasks;
    this.#tasks = new Map();
    for (const task of tasks)
      if (!this.#cleared.covers(task, this.#tasks.has(task.id)))
        this.#tasks.set(task.id, viewFromSnapshot(task, previous.get(task.id)));
    this.#orderDirty = true;
    if (this.#draft.selectedId === undefined || !this.#tasks.has(this.#draft.selectedId)) {
      this.#sortOrder();
      this.#setSelected(rowNear(this.#draft.order, this.#draft.scrollTop));
    }
  }

  /**
   * A task snapshot from an event (in order: always applied) or from an ACK (`fromReply`: may be
   * older than an event that was handled first, so it never moves a task backwards).
   */
  upsertTask(task: RecordedTask, fromReply = false): TaskView | undefined {
    if (this.#cleared.covers(task, this.#tasks.has(task.id))) return undefined;
    const previous = this.#tasks.get(task.id);
    if (fromReply && previous) {
      if (task.attempt < previous.attempt) return previous;
      if (task.attempt === previous.attempt && STATE_RANK[task.state] < STATE_RANK[previous.state]) return previous;
    }
    const view = viewFromSnapshot(task, previous);
    this.#tasks.set(task.id, view);
    if (!previous) {
      this.#orderDirty = true;
      if (this.#draft.selectedId === undefined) this.#draft.selectedId = task.id;
    }
    return view;
  }

  updateTask(id: string, patch: (task: TaskView) => TaskView | undefined): TaskView | undefined {
    const previous = this.#tasks.get(id);
    if (!previous) return undefined;
    const next = patch(previous);
    if (next && next !== previous) this.#tasks.set(id, next);
    return next ?? previous;
  }

  setProgress(id: string, progress: Progress): void {
    this.updateTask(id, (t) => {
      if (
        t.progress &&
        t.progress.fraction === progress.fraction &&
        t.progress.message === progress.message &&
        !t.stall
      )
        return t;
      const { stall: _stall, stallSeenAt: _seen, ...rest } = t;
      return { ...rest, progress };
    });
  }

  setUsage(id: string, usage: ResourceUsage): void {
    this.updateTask(id, (t) => ({ ...t, usage }));
  }

  setStall(id: string, stall: StallInfo): void {
    this.updateTask(id, (t) => (isFinishedState(t.state) ? t : { ...t, stall, stallSeenAt: Date.now() }));
  }

  setPending(id: string, op: PendingOp | undefined): void {
    this.updateTask(id, (t) => {
      if (op === undefined) {
        if (!t.pending) return t;
        const { pending: _pending, ...rest } = t;
        return rest;
      }
      return { ...t, pending: { op, attempt: t.attempt } };
    });
  }

  clearAllPending(): void {
    for (const [id, t] of this.#tasks) {
      if (t.pending) {
        const { pending: _pending, ...rest } = t;
        this.#tasks.set(id, rest);
      }
    }
  }

  appendLog(taskId: string, line: string): void {
    let ring = this.logs.get(taskId);
    if (!ring) {
      ring = [];
      this.logs.set(taskId, ring);
    }
    ring.push(line);
    if (ring.length > LOG_RING) ring.splice(0, ring.length - LOG_RING);
    const view = this.#draft.logView;
    if (view && view.taskId === taskId && !view.loading) {
      const lines = [...view.lines, line];
      this.#draft.logView = { ...view, lines: lines.length > LOG_RING ? lines.slice(-LOG_RING) : lines };
    }
    const details = this.#draft.details;
    if (details && details.taskId === taskId && !details.log.loading) {
      const lines = [...details.log.lines, line];
      this.#draft.details = {
        ...details,
        log: { ...details.log, lines: lines.length > LOG_RING ? lines.slice(-LOG_RING) : lines },
      };
    }
  }

  /**
   * Drops finished rows (and their logs) from the UI; returns how many, and when the last of them
   * ended (to keep them cleared: setClearedThrough). The daemon keeps them; a cleared task that
   * runs again (restarted from the CLI) comes back.
   */
  clearFinished(): { count: number; lastEndedAt?: number } {
    let n = 0;
    let lastEndedAt: number | undefined;
    const selected = this.#draft.selectedId;
    const selectedIndex = selected === undefined ? -1 : this.#draft.order.indexOf(selected);
    for (const [id, t] of this.#tasks) {
      if (isFinishedState(t.state) && !t.pending) {
        this.#cleared.add(id, t.attempt, t.endedAt);
        if (t.endedAt !== undefined) lastEndedAt = Math.max(lastEndedAt ?? t.endedAt, t.endedAt);
        this.#tasks.delete(id);
        this.logs.delete(id);
        n += 1;
      }
    }
    if (n > 0) {
      this.#orderDirty = true;
      this.#sortOrder();
      if (selected !== undefined && !this.#tasks.has(selected))
        this.#setSelected(rowNear(this.#draft.order, selectedIndex));
      this.#scroll();
    }
    return { count: n, ...(lastEndedAt !== undefined ? { lastEndedAt } : {}) };
  }

  // ---- selection ----------------------------------------------------------------------------------

  select(id: string | undefined): void {
    if (id === undefined) delete this.#draft.selectedId;
    else this.#draft.selectedId = id;
    this.#sortOrder();
    this.#scroll(true);
  }

  /** Moves the selection by `delta` rows ('start'/'end' for Home/End). */
  moveSelection(delta: number | 'start' | 'end'): void {
    this.#sortOrder();
    if (this.#draft.order.length === 0) return;
    this.#setSelected(movedSelection(this.#draft.order, this.#draft.selectedId, delta));
    this.#scroll(true);
  }

  get pageSize(): number {
    return visibleRowCount(this.#draft);
  }

  #setSelected(id: string | undefined): void {
    if (id === undefined) delete this.#draft.selectedId;
    else this.#draft.selectedId = id;
  }

  #sortOrder(): void {
    if (!this.#orderDirty) return;
    this.#orderDirty = false;
    const views = [...this.#tasks.values()];
    views.sort(compareIds);
    this.#draft.order = views.map((t) => t.id);
  }

  /** Keeps the window within the rows and the selection in view; `reveal`: scroll to it wherever it is. */
  #scroll(reveal = false): void {
    this.#draft.scrollTop = scrollTopFor(this.#draft, visibleRowCount(this.#draft), reveal);
  }
}
