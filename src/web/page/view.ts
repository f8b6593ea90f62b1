/**
 * The task table of the web page: one row per task, built once and then patched cell by cell, only
 * where a value changed, and only for tasks that changed since the last frame: with 500 tasks
 * updating ten times a second a frame touches the few dozen rows that moved, nothing else.
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
    name: HTMLElement;
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
}

export class TaskTable {
  readonly #body: HTMLTableSectionElement;
  readonly #rows = new Map<string, Row>();
  #order: string[] = [];
  #selected: string | undefined;

  constructor(body: HTMLTableSectionElement, handlers: TableHandlers) {
    this.#body = body;
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

  /** Puts rows in `order` (new tasks are added, forgotten ones removed); cheap when nothing moved. */
  arrange(order: string[]): void {
    if (order.length === this.#order.length && order.every((id, i) => id === this.#order[i])) return;
    const keep = new Set(order);
    for (const [id, row] of this.#rows) {
      if (!keep.has(id)) {
        row.tr.remove();
        this.#rows.delete(id);
      }
    }
    let previous: HTMLTableRowElement | undefined;
    for (const id of order) {
      const row = this.#rows.get(id) ?? this.#create(id);
      const expected = previous ? previous.nextSibling : this.#body.firstChild;
      if (expected !== row.tr) this.#body.insertBefore(row.tr, expected);
      previous = row.tr;
    }
    this.#order = order;
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
    this.#style(row, 'fill', c.fill, `${(fraction * 100).toFixed(1)}%`);
    this.#text(row, 'percent', c.percent, task.progress || task.state === 'completed' ? `${Math.round(fraction * 100)}%` : '');
    this.#text(row, 'message', c.message, task.progress?.message ?? '');
    this.#text(row, 'stall', c.stall, task.stall && !terminal ? stallText(task.stall, stallExtraMs) : '');
    this.#elapsed(row, now);
    const usage = !terminal ? task.usage : undefined;
    this.#text(row, 'cpu', c.cpu, usage ? `${Math.round(usage.cpuPercent)}%` : '');
    this.#text(row, 'rss', c.rss, usage ? bytes(usage.rssBytes) : '');
    this.#text(row, 'attempt', c.attempt, task.attempt > 1 ? String(task.attempt) : task.attempt === 1 ? '1' : '');
    this.#disabled(row, 'cancel', c.cancel, terminal || task.state === 'killing' || task.state === 'cancelling');
    this.#disabled(row, 'kill', c.kill, terminal || task.state === 'killing');
    this.#disabled(row, 'restart', c.restart, false);
  }

  /** Once a second: the running tasks' elapsed times. */
  tick(now: number): void {
    for (const row of this.#rows.values()) if (row.task && !isTerminal(row.task.state)) this.#elapsed(row, now);
  }

  /** The row of a task, for the benchmark and the tests (data-id). */
  has(id: string): boolean {
    return this.#rows.has(id);
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
    const elapsed = cell('elapsed num');
    const cpu = cell('cpu num');
    const rss = cell('rss num');
    const attempt = cell('attempt num');
    const actions = cell('actions');
    const cancel = button(actions, 'cancel', 'Cancel', 'graceful: abort signal and SIGTERM, SIGKILL after the grace period');
    const kill = button(actions, 'kill', 'Kill', 'SIGKILL to the whole process group, now');
    const restart = button(actions, 'restart', 'Restart', 'kill this attempt and run the next one');
    const row: Row = { tr, cells: { state, stall, fill, message, percent, elapsed, cpu, rss, attempt, name, cancel, kill, restart }, shown: new Map() };
    this.#rows.set(id, row);
    if (id === this.#selected) tr.classList.add('selected');
    return row;
  }

  #text(row: Row, key: string, element: HTMLElement, text: string): void {
    if (row.shown.get(key) === text) return;
    row.shown.set(key, text);
    element.textContent = text;
  }

  #style(row: Row, key: string, element: HTMLElement, width: string): void {
    if (row.shown.get(key) === width) return;
    row.shown.set(key, width);
    element.style.width = width;
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
