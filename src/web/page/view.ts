/**
 * The task table of the web page: one row per task, built once and then patched cell by cell, only
 * where a value changed, only for tasks that changed since the last frame, and only for rows on
 * screen (an IntersectionObserver says which; a row that scrolls into view is brought up to date
 * then): with 500 tasks updating ten times a second a frame touches the few dozen rows one sees.
 * Every text that changes sits in a box of fixed size with CSS containment (style.css, `.box`), so
 * the browser lays out that box again, not the table.
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
  /** Rows that came on screen: render them now. */
  visible(taskIds: string[]): void;
}

export class TaskTable {
  readonly #body: HTMLTableSectionElement;
  readonly #rows = new Map<string, Row>();
  #order: string[] = [];
  #selected: string | undefined;
  readonly #onScreen = new Set<string>();
  readonly #visibility: IntersectionObserver;

  constructor(body: HTMLTableSectionElement, handlers: TableHandlers) {
    this.#body = body;
    // A margin of a screen or so: rows just below the fold are ready before they are scrolled to.
    this.#visibility = new IntersectionObserver(
      (entries) => {
        const appeared: string[] = [];
        for (const entry of entries) {
          const id = (entry.target as HTMLElement).dataset.id!;
          if (entry.isIntersecting) {
            if (!this.#onScreen.has(id)) appeared.push(id);
            this.#onScreen.add(id);
          } else {
            this.#onScreen.delete(id);
          }
        }
        if (appeared.length > 0) handlers.visible(appeared);
      },
      { rootMargin: '600px 0px' },
    );
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
        this.#visibility.unobserve(row.tr);
        row.tr.remove();
        this.#rows.delete(id);
        this.#onScreen.delete(id);
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
    // A transform, not a width: the bar moves without laying the table out again.
    this.#style(row, 'fill', c.fill, `scaleX(${fraction.toFixed(3)})`);
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

  /** Once a second: the running tasks' elapsed times (on screen). */
  tick(now: number): void {
    for (const id of this.#onScreen) {
      const row = this.#rows.get(id);
      if (row?.task && !isTerminal(row.task.state)) this.#elapsed(row, now);
    }
  }

  /** Whether a task's row is on screen (or near it): only those are rendered each frame. */
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
    const actions = cell('actions');
    const cancel = button(actions, 'cancel', 'Cancel', 'graceful: abort signal and SIGTERM, SIGKILL after the grace period');
    const kill = button(actions, 'kill', 'Kill', 'SIGKILL to the whole process group, now');
    const restart = button(actions, 'restart', 'Restart', 'kill this attempt and run the next one');
    const row: Row = { tr, cells: { state, stall, fill, message, percent, elapsed, cpu, rss, attempt, name, cancel, kill, restart }, shown: new Map() };
    this.#rows.set(id, row);
    if (id === this.#selected) tr.classList.add('selected');
    this.#visibility.observe(tr);
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
