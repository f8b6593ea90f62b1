/**
 * The UI's state and its frame scheduler.
 *
 * Daemon events mutate a working copy cheaply (task views are immutable objects, replaced on
 * change, so memoized rows re-render only when their task changed) and mark it dirty; a commit
 * publishes the working copy to React at most once per frame (~30 fps), and never more often than
 * leaves the UI idle three quarters of the time (FRAME_SPACING), so a key press usually finds the
 * process idle. A key press commits at once: what the user pressed
 * is on screen in the very next frame, whatever the event load.
 */
import {
  isTerminalState,
  type Progress,
  type ResourceUsage,
  type StallInfo,
  type TaskSnapshot,
  type TaskState,
} from '../supervisor/types.js';
import type { DaemonHealth } from '../protocol/messages.js';
import type { AttemptRecord } from '../journal/types.js';
import type { Template } from '../tasks/templates.js';

export type PendingOp = 'cancel' | 'kill' | 'restart' | 'stop';

export interface TaskView {
  id: string;
  name: string;
  state: TaskState;
  attempt: number;
  progress?: Progress;
  usage?: ResourceUsage;
  stall?: StallInfo;
  /** Local time the stall report (its silentForMs) was taken: the silence shown is silentForMs + (now - stallSeenAt). */
  stallSeenAt?: number;
  /** The process of this attempt, once it has one. */
  pid?: number;
  /**
   * Whether this attempt has reached 'running'. Until it has, the daemon's snapshots of a new
   * attempt may still carry the previous attempt's pid, progress, usage, stall and start time:
   * none of them is taken (see viewFromSnapshot).
   */
  ran: boolean;
  createdAt: number;
  /**
   * When this attempt began: it was admitted and its process is being started (ELAPSED counts from
   * it, as the outcome's duration does). Exact for a finished attempt (its end less its duration);
   * for an active one, when this UI first saw it starting (else when it started running).
   */
  attemptStartedAt?: number;
  /** When this attempt started running (absent until it has). */
  startedAt?: number;
  endedAt?: number;
  outcome?: TaskSnapshot['outcome'];
  stopReason?: TaskSnapshot['stopReason'];
  /** An operation asked for and not yet reflected by the daemon: shown at once, before any reply. */
  pending?: { op: PendingOp; attempt: number };
}

export type DaemonStatus =
  | { kind: 'connecting'; text: string }
  | { kind: 'connected'; pid: number; home: string }
  | { kind: 'disconnected'; reason: string };

export type Tone = 'info' | 'busy' | 'success' | 'warn' | 'error';
export interface StatusLine {
  text: string;
  tone: Tone;
}

export type Mode = 'normal' | 'help' | 'details' | 'quit' | 'quitting';

export interface LogView {
  taskId: string;
  attempt?: number;
  lines: readonly string[];
  loading: boolean;
  error?: string;
}

/** The details view (Enter) of one task: its journal record (attempts) and its log tail, fetched on opening. */
export interface DetailsView {
  taskId: string;
  /** Index of the first line shown. */
  scroll: number;
  attempts?: readonly AttemptRecord[];
  loading: boolean;
  error?: string;
  log: LogView;
}

export interface MachineLoad {
  load1: number;
  cpus: number;
  memUsedFraction: number;
}

export interface UiState {
  daemon: DaemonStatus;
  /** The daemon's last reported health (journal and task log writes); shown in the header when something fails. */
  health?: DaemonHealth;
  tasks: ReadonlyMap<string, TaskView>;
  /** Ids shown, in creation order (cleared rows left out). */
  order: readonly string[];
  selectedId?: string;
  /** Index of the first row drawn. */
  scrollTop: number;
  status: StatusLine;
  mode: Mode;
  logPane: boolean;
  logView?: LogView;
  /** Index of the first line of the help page shown. */
  helpScroll: number;
  details?: DetailsView;
  templates: readonly Template[];
  templatesSource?: string;
  size: { columns: number; rows: number };
  load?: MachineLoad;
  /** Wall clock (ms) of the last tick: elapsed times and stall silences count from it. */
  now: number;
  /** Bumped by every commit; for tests and benchmarks. */
  frame: number;
}

/**
 * Background commits start no sooner than this many times the last frame's cost after it: the UI
 * spends at most a quarter of its time drawing, so a key press mostly finds it idle. A frame that
 * costs 5 ms still allows 30 fps; one stretched to 40 ms by a slow or busy machine, 6 fps.
 */
export const FRAME_SPACING = 4;

/** Lines of chrome around the table: header (2), table header (1), status (1), footer (1). */
export const CHROME_ROWS = 5;
export const LOG_RING = 200;

/** Lines of a full-screen page (help, details): everything between the header and the status line. */
export function pageHeight(rows: number): number {
  return Math.max(1, rows - 1 - (CHROME_ROWS - 1));
}

export function logPaneHeight(rows: number): number {
  return Math.max(4, Math.min(14, Math.floor(rows / 3)));
}

/** Rows of the task table that fit the screen. */
export function visibleRowCount(state: Pick<UiState, 'size' | 'logPane'>): number {
  // One line is left free at the bottom: a frame shorter than the screen lets Ink update lines in place.
  const usable = state.size.rows - 1 - CHROME_ROWS - (state.logPane ? logPaneHeight(state.size.rows) + 1 : 0);
  return Math.max(1, usable);
}

export const STATE_RANK: Record<TaskState, number> = {
  queued: 0,
  starting: 1,
  running: 2,
  // Same rank as running: a task goes back and forth between the two.
  paused: 2,
  cancelling: 3,
  killing: 4,
  completed: 5,
  failed: 5,
  cancelled: 5,
  killed: 5,
  interrupted: 5,
};

export function isActive(task: { state: TaskState }): boolean {
  return !isTerminalState(task.state);
}

function compareIds(a: TaskView, b: TaskView): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  const na = Number(a.id);
  const nb = Number(b.id);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** How far off a snapshot's times may be and still belong together (the daemon stamps them a few ms apart). */
const CLOCK_SLACK_MS = 250;

/**
 * Whether the attempt of this snapshot has run (reached 'running'). Queued and starting attempts
 * have not; a stopping or finished one has if it was seen running; one seen for the first time
 * (after connecting) has if its start time belongs to it: an attempt's outcome counts from the
 * moment it was admitted, so a start time before that is an earlier attempt's.
 */
function attemptRan(task: TaskSnapshot, previous: TaskView | undefined): boolean {
  if (task.state === 'running') return true;
  if (task.state === 'queued' || task.state === 'starting') return false;
  if (previous !== undefined && previous.attempt === task.attempt) return previous.ran;
  if (task.startedAt === undefined) return false;
  if (task.attempt <= 1) return true;
  const outcome = task.outcome;
  if (outcome && task.endedAt !== undefined && outcome.attempt === task.attempt) {
    return task.startedAt >= task.endedAt - outcome.durationMs - CLOCK_SLACK_MS;
  }
  return true;
}

export function viewFromSnapshot(task: TaskSnapshot, previous?: TaskView, now = Date.now()): TaskView {
  const sameAttempt = previous !== undefined && previous.attempt === task.attempt;
  const ran = attemptRan(task, previous);
  const view: TaskView = {
    id: task.id,
    name: task.name,
    state: task.state,
    attempt: task.attempt,
    ran,
    createdAt: task.createdAt,
  };
  // What belongs to the attempt's process is taken only once the attempt has run: before that, a
  // snapshot of a new attempt may still carry the previous attempt's (the supervisor keeps them
  // until the new process is spawned).
  if (ran) {
    const progress = task.progress ?? (sameAttempt ? previous.progress : undefined);
    if (progress) view.progress = progress;
    const usage = task.usage ?? (sameAttempt ? previous.usage : undefined);
    if (usage) view.usage = usage;
    if (task.pid !== undefined) view.pid = task.pid;
    else if (sameAttempt && previous.pid !== undefined && !isTerminalState(task.state)) view.pid = previous.pid;
    if (task.stall && !isTerminalState(task.state)) {
      // silentForMs is as of now: count on from now (keeping an older arrival time would count the silence twice)
      view.stall = task.stall;
      view.stallSeenAt = now;
    } else if (sameAttempt && previous.stall && previous.state === task.state && !isTerminalState(task.state)) {
      view.stall = previous.stall;
      if (previous.stallSeenAt !== undefined) view.stallSeenAt = previous.stallSeenAt;
    }
    if (task.startedAt !== undefined) view.startedAt = task.startedAt;
  }
  if (task.endedAt !== undefined && isTerminalState(task.state)) view.endedAt = task.endedAt;
  if (task.outcome && task.outcome.attempt === task.attempt) view.outcome = task.outcome;
  if (view.outcome && view.endedAt !== undefined) view.attemptStartedAt = view.endedAt - view.outcome.durationMs;
  else if (task.state !== 'queued') {
    const at = (sameAttempt ? previous.attemptStartedAt : undefined) ?? view.startedAt ?? (isTerminalState(task.state) ? undefined : now);
    if (at !== undefined) view.attemptStartedAt = at;
  }
  if (task.stopReason) view.stopReason = task.stopReason;
  if (previous?.pending && !pendingSettled(previous.pending, view)) view.pending = previous.pending;
  return view;
}

/** Whether the daemon's picture of a task now shows what the pending operation asked for. */
export function pendingSettled(pending: NonNullable<TaskView['pending']>, task: Pick<TaskView, 'state' | 'attempt'>): boolean {
  if (task.attempt > pending.attempt) return true;
  switch (pending.op) {
    case 'cancel':
    case 'stop':
      return task.state === 'cancelling' || task.state === 'killing' || isTerminalState(task.state);
    case 'kill':
      return task.state === 'killing' || isTerminalState(task.state);
    case 'restart':
      return false;
  }
}

export type Listener = () => void;

export interface StoreOptions {
  templates?: readonly Template[];
  templatesSource?: string;
  size?: { columns: number; rows: number };
  /** Minimum time between two background commits. Default 33 ms (~30 fps). */
  frameMs?: number;
  now?: () => number;
}

export class TuiStore {
  readonly frameMs: number;
  #state: UiState;
  #tasks = new Map<string, TaskView>();
  /** Tasks cleared with c, and the attempt that was cleared. */
  #cleared = new Map<string, number>();
  /** Tasks that ended at or before this (daemon clock, ms) are cleared too: see setClearedThrough. */
  #clearedThrough = -Infinity;
  #orderDirty = false;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #lastCommit = 0;
  #listeners = new Set<Listener>();
  /** Recent log lines per task (from TASK_LOG events), newest last. */
  readonly logs = new Map<string, string[]>();
  /** Cost (ms) of recent frames, commit to Ink's render done, when frameRendered() is called; for benchmarks. */
  frameCosts: number[] | undefined;
  #commitStartedAt = 0;
  /** What the last frame cost (commit to drawn, wall time): see FRAME_SPACING. */
  #lastFrameCost = 0;
  #draft: Omit<UiState, 'tasks' | 'frame'>;

  constructor(options: StoreOptions = {}) {
    this.frameMs = options.frameMs ?? 33;
    this.#draft = {
      daemon: { kind: 'connecting', text: 'connecting…' },
      order: [],
      scrollTop: 0,
      status: { text: 'Connecting to the daemon…', tone: 'busy' },
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
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#sortOrder();
    this.#clampScroll();
    this.#dirty = false;
    this.#lastCommit = performance.now();
    this.#commitStartedAt = this.#lastCommit;
    this.#state = { ...this.#draft, tasks: new Map(this.#tasks), frame: this.#state.frame + 1 };
    for (const listener of this.#listeners) listener();
  }

  /** Called when the renderer has drawn a frame (Ink's onRender): measures what the commit cost. */
  frameRendered(): void {
    if (this.#commitStartedAt === 0) return;
    this.#lastFrameCost = performance.now() - this.#commitStartedAt;
    this.#commitStartedAt = 0;
    this.frameCosts?.push(this.#lastFrameCost);
  }

  /** Marks the working state changed; `urgent` commits at once, otherwise within one frame. */
  changed(urgent = false): void {
    this.#dirty = true;
    if (urgent) {
      this.commit();
      return;
    }
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastCommit + Math.max(this.frameMs, FRAME_SPACING * this.#lastFrameCost) - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#dirty) this.commit();
    }, wait);
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
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
    this.#clearedThrough = at ?? -Infinity;
  }

  get clearedThrough(): number | undefined {
    return Number.isFinite(this.#clearedThrough) ? this.#clearedThrough : undefined;
  }

  /** Replaces every task with a daemon snapshot (after (re)connecting). */
  replaceTasks(tasks: readonly TaskSnapshot[]): void {
    const previous = this.#tasks;
    this.#tasks = new Map();
    for (const task of tasks) if (!this.#stillCleared(task)) this.#tasks.set(task.id, viewFromSnapshot(task, previous.get(task.id)));
    this.#orderDirty = true;
    if (this.#draft.selectedId === undefined || !this.#tasks.has(this.#draft.selectedId)) this.#selectFallback();
  }

  /**
   * A task snapshot from an event (in order: always applied) or from an ACK (`fromReply`: may be
   * older than an event that was handled first, so it never moves a task backwards).
   */
  upsertTask(task: TaskSnapshot, fromReply = false): TaskView | undefined {
    if (this.#stillCleared(task)) return undefined;
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
      if (t.progress && t.progress.fraction === progress.fraction && t.progress.message === progress.message && !t.stall) return t;
      const { stall: _stall, stallSeenAt: _seen, ...rest } = t;
      return { ...rest, progress };
    });
  }

  setUsage(id: string, usage: ResourceUsage): void {
    this.updateTask(id, (t) => ({ ...t, usage }));
  }

  setStall(id: string, stall: StallInfo): void {
    this.updateTask(id, (t) => (isTerminalState(t.state) ? t : { ...t, stall, stallSeenAt: Date.now() }));
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
      this.#draft.details = { ...details, log: { ...details.log, lines: lines.length > LOG_RING ? lines.slice(-LOG_RING) : lines } };
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
      if (isTerminalState(t.state) && !t.pending) {
        this.#cleared.set(id, t.attempt);
        if (t.endedAt !== undefined) lastEndedAt = Math.max(lastEndedAt ?? t.endedAt, t.endedAt);
        this.#tasks.delete(id);
        this.logs.delete(id);
        n += 1;
      }
    }
    if (n > 0) {
      this.#orderDirty = true;
      this.#sortOrder();
      if (selected !== undefined && !this.#tasks.has(selected)) {
        const order = this.#draft.order;
        if (order.length === 0) delete this.#draft.selectedId;
        else this.#draft.selectedId = order[Math.min(order.length - 1, Math.max(0, selectedIndex))];
      }
      this.#clampScroll();
    }
    if (lastEndedAt !== undefined) this.#clearedThrough = Math.max(this.#clearedThrough, lastEndedAt);
    return { count: n, ...(lastEndedAt !== undefined ? { lastEndedAt } : {}) };
  }

  /** Whether a snapshot is of a task cleared from the UI, and still the run that was cleared. */
  #stillCleared(task: TaskSnapshot): boolean {
    if (isTerminalState(task.state) && task.endedAt !== undefined && task.endedAt <= this.#clearedThrough && !this.#tasks.has(task.id)) return true;
    const attempt = this.#cleared.get(task.id);
    if (attempt === undefined) return false;
    if (task.attempt === attempt && isTerminalState(task.state)) return true;
    this.#cleared.delete(task.id);
    return false;
  }

  // ---- selection ----------------------------------------------------------------------------------

  select(id: string | undefined): void {
    if (id === undefined) delete this.#draft.selectedId;
    else this.#draft.selectedId = id;
    this.#sortOrder();
    this.#scrollToSelection();
  }

  /** Moves the selection by `delta` rows ('start'/'end' for Home/End). */
  moveSelection(delta: number | 'start' | 'end'): void {
    this.#sortOrder();
    const order = this.#draft.order;
    if (order.length === 0) return;
    const current = this.#draft.selectedId === undefined ? -1 : order.indexOf(this.#draft.selectedId);
    let index: number;
    if (delta === 'start') index = 0;
    else if (delta === 'end') index = order.length - 1;
    else if (current < 0) index = delta > 0 ? 0 : order.length - 1;
    else index = Math.min(order.length - 1, Math.max(0, current + delta));
    this.#draft.selectedId = order[index];
    this.#scrollToSelection();
  }

  get pageSize(): number {
    return visibleRowCount(this.#draft);
  }

  #selectFallback(): void {
    this.#sortOrder();
    const order = this.#draft.order;
    if (order.length === 0) delete this.#draft.selectedId;
    else this.#draft.selectedId = order[Math.min(order.length - 1, Math.max(0, this.#draft.scrollTop))];
  }

  #sortOrder(): void {
    if (!this.#orderDirty) return;
    this.#orderDirty = false;
    const views = [...this.#tasks.values()];
    views.sort(compareIds);
    this.#draft.order = views.map((t) => t.id);
  }

  #scrollToSelection(): void {
    const order = this.#draft.order;
    const index = this.#draft.selectedId === undefined ? -1 : order.indexOf(this.#draft.selectedId);
    const visible = visibleRowCount(this.#draft);
    if (index >= 0) {
      if (index < this.#draft.scrollTop) this.#draft.scrollTop = index;
      else if (index >= this.#draft.scrollTop + visible) this.#draft.scrollTop = index - visible + 1;
    }
    this.#clampScroll();
  }

  #clampScroll(): void {
    const visible = visibleRowCount(this.#draft);
    const max = Math.max(0, this.#draft.order.length - visible);
    if (this.#draft.scrollTop > max) this.#draft.scrollTop = max;
    if (this.#draft.scrollTop < 0) this.#draft.scrollTop = 0;
    // keep the selection in view after a resize or the log pane opening
    const index = this.#draft.selectedId === undefined ? -1 : this.#draft.order.indexOf(this.#draft.selectedId);
    if (index >= 0 && index >= this.#draft.scrollTop + visible) this.#draft.scrollTop = Math.min(max, index - visible + 1);
  }
}
