/**
 * The task table of the web page: one row per task, built once and then patched cell by cell, only
 * where a value changed, only for tasks that changed since the last frame, and only for the rows in
 * the document: those on screen and a few around them (#window); a row that scrolls in is brought
 * up to date then. With 500 tasks updating ten times a second a frame touches the few rows one sees.
 * Everything a task carries is set as text (textContent), never parsed as HTML: a task named
 * `<img src=x onerror=alert(1)>` is shown as those characters.
 */
import { PENDING_LABELS, bytes, clock, elapsedMs, stallText, stateLabel, type PendingAction } from './format.js';
import { isTerminal, type WireTask } from './model.js';

export interface Pending {
  action: PendingAction;
  /** performance.now() of the click. */
  at: number;
  /** The attempt the click was about (a restart is done when a later one runs). */
  attempt: number;
}

interface Row {
  tr: HTMLTableRowElement;
  cells: {
    state: HTMLElement;
    stall: HTMLElement;
    fill: HTMLElement;
    message: HTMLElement;
    percent: HTMLElement;
    elapsed: HTMLElement;
    cpu: HTMLElement;
    rss: HTMLElement;
    attempt: HTMLElement;
    host: HTMLElement;
    name: HTMLElement;
    pause: HTMLButtonElement;
    resume: HTMLButtonElement;
    cancel: HTMLButtonElement;
    kill: HTMLButtonElement;
    restart: HTMLButtonElement;
  };
  /** What each cell shows now: a cell is written only when this changes. */
  shown: Map<string, string>;
  task?: WireTask;
}

export interface TableHandlers {
  action(taskId: string, action: PendingAction, event: MouseEvent): void;
  select(taskId: string): void;
  /** Rows that came on screen: render them now. */
  visible(taskIds: string[]): void;
}

/** Every row's height in pixels (style.css gives rows exactly this): what the window of rows is computed from. */
export const ROW_HEIGHT = 48;
/** Rows kept in the document above and below the screen, so a scroll rarely shows an empty row. */
const OVERSCAN = 8;

export class TaskTable {
  readonly #body: HTMLTableSectionElement;
  readonly #handlers: TableHandlers;
  /** Rows made so far (a row keeps what it shows while it is out of the document). */
  readonly #rows = new Map<string, Row>();
  #order: string[] = [];
  #selected: string | undefined;
  /** The tasks whose rows are in the document now: order[first..last]. */
  #onScreen = new Set<string>();
  #first = 0;
  #last = -1;
  readonly #above = spacer();
  readonly #below = spacer();
  #layoutRequested = false;
  /** Whether the backend can pause tasks (a cluster client may not): the pause buttons show only then. */
  #canPause = false;

  constructor(body: HTMLTableSectionElement, handlers: TableHandlers) {
    this.#body = body;
    this.#handlers = handlers;
    body.append(this.#above, this.#below);
    const relayout = () => {
      if (this.#layoutRequested) return;
      this.#layoutRequested = true;
      requestAnimationFrame(() => {
        this.#layoutRequested = false;
        this.#window();
      });
    };
    window.addEventListener('scroll', relayout, { passive: true });
    window.addEventListener('resize', relayout);
    body.addEventListener('click', (event) => {
      const target = event.target as HTMLElement;
      const tr = target.closest('tr');
      const id = tr?.dataset.id;
      if (!id) return;
      const button = target.closest('button');
      if (button?.dataset.action) handlers.action(id, button.dataset.action as PendingAction, event);
      else handlers.select(id);
    });
  }

  /** The tasks in display order (new tasks are added, forgotten ones let go); cheap when nothing moved. */
  arrange(order: string[]): void {
    if (order.length === this.#order.length && order.every((id, i) => id === this.#order[i])) return;
    const keep = new Set(order);
    for (const id of this.#rows.keys()) if (!keep.has(id)) this.#rows.delete(id);
    this.#order = order;
    this.#window(true);
  }

  /**
   * Only the rows on screen (and OVERSCAN around them) are in the document, between two spacers
   * that stand for the rest: with 500 tasks the browser lays out, paints and hit-tests a few dozen
   * rows, not 500. Rows that come in are announced (handlers.visible) to be brought up to date.
   */
  #window(orderChanged = false): void {
    const top = this.#body.getBoundingClientRect().top;
    const first = Math.max(0, Math.min(this.#order.length - 1, Math.floor(-top / ROW_HEIGHT) - OVERSCAN));
    const last = Math.min(this.#order.length - 1, first + Math.ceil(window.innerHeight / ROW_HEIGHT) + 2 * OVERSCAN);
    if (!orderChanged && first === this.#first && last === this.#last) return;
    this.#first = first;
    this.#last = last;
    const ids = this.#order.slice(first, last + 1);
    const appeared = ids.filter((id) => !this.#onScreen.has(id));
    this.#onScreen = new Set(ids);
    this.#above.style.height = `${first * ROW_HEIGHT}px`;
    this.#below.style.height = `${Math.max(0, this.#order.length - 1 - last) * ROW_HEIGHT}px`;
    this.#body.replaceChildren(
      this.#above,
      ...ids.map((id) => (this.#rows.get(id) ?? this.#create(id)).tr),
      this.#below,
    );
    if (appeared.length > 0) this.#handlers.visible(appeared);
  }

  /** Pause and resume buttons on every row, or on none; rows already made are redrawn by the caller. */
  set canPause(canPause: boolean) {
    this.#canPause = canPause;
  }

  select(id: string | undefined): void {
    if (this.#selected) this.#rows.get(this.#selected)?.tr.classList.remove('selected');
    this.#selected = id;
    if (id) this.#rows.get(id)?.tr.classList.add('selected');
  }

  /**
   * Writes one task's row; `now` is the daemon's clock (elapsed times count from it), `stallExtraMs`
   * how long ago the page heard of the task's stall (its silence has grown by that much since).
   */
  render(task: WireTask, pending: Pending | undefined, now: number, stallExtraMs = 0): void {
    const row = this.#rows.get(task.id);
    if (!row) return;
    row.task = task;
    const c = row.cells;
    const terminal = isTerminal(task.state);
    const stateText = pending && !terminal ? PENDING_LABELS[pending.action] : stateLabel(task.state);
    this.#text(row, 'state', c.state, stateText);
    this.#attr(row, 'data-state', row.tr, pending && !terminal ? `pending-${pending.action}` : task.state);
    this.#text(row, 'name', c.name, task.name);
    const fraction = task.progress?.fraction ?? (task.state === 'completed' ? 1 : 0);
    // A transform, not a width: the bar moves without laying the table out again.
    this.#style(row, 'fill', c.fill, `scaleX(${fraction.toFixed(3)})`);
    this.#text(
      row,
      'percent',
      c.percent,
      task.progress || task.state === 'completed' ? `${Math.round(fraction * 100)}%` : '',
    );
    this.#text(row, 'message', c.message, task.progress?.message ?? '');
    this.#text(row, 'stall', c.stall, task.stall && !terminal ? stallText(task.stall, stallExtraMs) : '');
    this.#elapsed(row, now);
    const usage = !terminal ? task.usage : undefined;
    this.#text(row, 'cpu', c.cpu, usage ? `${Math.round(usage.cpuPercent)}%` : '');
    this.#text(row, 'rss', c.rss, usage ? bytes(usage.rssBytes) : '');
    this.#text(row, 'attempt', c.attempt, task.attempt > 1 ? String(task.attempt) : task.attempt === 1 ? '1' : '');
    this.#text(row, 'host', c.host, task.host ?? '');
    // One of the two shows: Resume on a paused task, Pause (enabled only while it runs) on any other.
    const paused = task.state === 'paused';
    this.#hidden(row, 'pause', c.pause, !this.#canPause || paused);
    this.#hidden(row, 'resume', c.resume, !this.#canPause || !paused);
    this.#disabled(row, 'pause', c.pause, task.state !== 'running' || pending !== undefined);
    this.#disabled(row, 'resume', c.resume, pending !== undefined);
    this.#disabled(row, 'cancel', c.cancel, terminal || task.state === 'killing' || task.state === 'cancelling');
    this.#disabled(row, 'kill', c.kill, terminal || task.state === 'killing');
    this.#disabled(row, 'restart', c.restart, false);
  }

  /** Once a second: the running tasks' elapsed times (on screen). */
  tick(now: number): void {
    for (const id of this.#onScreen) {
      const row = this.#rows.get(id);
      if (row?.task && !isTerminal(row.task.state)) this.#elapsed(row, now);
    }
  }

  /** Whether a task's row is in the document (on screen or near it): only those are rendered. */
  isOnScreen(id: string): boolean {
    return this.#onScreen.has(id);
  }

  #elapsed(row: Row, now: number): void {
    const ms = row.task ? elapsedMs(row.task, now) : undefined;
    this.#text(row, 'elapsed', row.cells.elapsed, ms === undefined ? '' : clock(ms));
  }

  #create(id: string): Row {
    const tr = document.createElement('tr');
    tr.dataset.id = id;
    const cell = (className: string) => {
      const td = document.createElement('td');
      td.className = className;
      tr.append(td);
      return td;
    };
    cell('id').textContent = id;
    const name = cell('name');
    const stateCell = cell('state');
    const state = span(stateCell, 'state-text');
    const stall = span(stateCell, 'stall');
    const progressCell = cell('progress');
    const bar = span(progressCell, 'bar');
    const fill = span(bar, 'fill');
    const percent = span(progressCell, 'percent');
    const message = span(progressCell, 'message');
    const elapsed = span(cell('elapsed num'), 'box');
    const cpu = span(cell('cpu num'), 'box');
    const rss = span(cell('rss num'), 'box');
    const attempt = span(cell('attempt num'), 'box');
    const host = cell('host');
    const actions = cell('actions');
    const pause = button(actions, 'pause', 'Pause', 'freeze its processes where they are (no CPU) until Resume');
    const resume = button(actions, 'resume', 'Resume', 'let it run on from where it was paused');
    const cancel = button(
      actions,
      'cancel',
      'Cancel',
      'graceful: abort signal and SIGTERM, SIGKILL after the grace period',
    );
    const kill = button(actions, 'kill', 'Kill', 'SIGKILL to the whole process group, now');
    const restart = button(actions, 'restart', 'Restart', 'kill this attempt and run the next one');
    const row: Row = {
      tr,
      cells: {
        state,
        stall,
        fill,
        message,
        percent,
        elapsed,
        cpu,
        rss,
        attempt,
        host,
        name,
        pause,
        resume,
        cancel,
        kill,
        restart,
      },
      shown: new Map(),
    };
    this.#rows.set(id, row);
    if (id === this.#selected) tr.classList.add('selected');
    return row;
  }

  #text(row: Row, key: string, element: HTMLElement, text: string): void {
    if (row.shown.get(key) === text) return;
    row.shown.set(key, text);
    element.textContent = text;
  }

  #style(row: Row, key: string, element: HTMLElement, transform: string): void {
    if (row.shown.get(key) === transform) return;
    row.shown.set(key, transform);
    element.style.transform = transform;
  }

  #attr(row: Row, key: string, element: HTMLElement, value: string): void {
    if (row.shown.get(key) === value) return;
    row.shown.set(key, value);
    element.setAttribute(key, value);
  }

  #disabled(row: Row, key: string, element: HTMLButtonElement, disabled: boolean): void {
    const value = String(disabled);
    if (row.shown.get(key) === value) return;
    row.shown.set(key, value);
    element.disabled = disabled;
  }

  #hidden(row: Row, key: string, element: HTMLElement, hidden: boolean): void {
    const value = String(hidden);
    if (row.shown.get(`${key}.hidden`) === value) return;
    row.shown.set(`${key}.hidden`, value);
    element.hidden = hidden;
  }
}

/** A row that stands for the rows above or below the window (its height is theirs). */
function spacer(): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.className = 'spacer';
  tr.setAttribute('aria-hidden', 'true');
  const td = document.createElement('td');
  // The columns but the host's, which only a cluster's page shows: a span wider than the columns
  // shown makes an empty column of its own, so a spacer leaves the host's cell out.
  td.colSpan = 9;
  tr.append(td);
  return tr;
}

function span(parent: HTMLElement, className: string): HTMLElement {
  const element = document.createElement('span');
  element.className = className;
  parent.append(element);
  return element;
}

function button(parent: HTMLElement, action: PendingAction, label: string, title: string): HTMLButtonElement {
  const element = document.createElement('button');
  element.type = 'button';
  element.dataset.action = action;
  element.textContent = label;
  element.title = title;
  element.className = `action ${action}`;
  parent.append(element);
  return element;
}
