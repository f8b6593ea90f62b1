/**
 * The selected task's details pane: its facts, error and result, its attempts (from the daemon's
 * record, GET), and its log: the tail from LOGS once, then the lines of the event stream, placed by
 * event number so that no line is lost or shown twice between the two.
 */
import { byId, setText } from './dom.js';
import { outcomeText, stateLabel, timeOfDay, valueText } from './format.js';
import type { ShowStatus } from './header.js';
import { isTerminal, type WireLogLine, type WireTask } from './model.js';
import { postJson } from './post-json.js';

const MAX_LOG_LINES = 2000;
const LOG_TAIL_BYTES = 64 * 1024;
/** A selected task that changes often has its record read again at most this often. */
const REFRESH_DELAY_MS = 150;

export class DetailsPane {
  readonly #tasks: ReadonlyMap<string, WireTask>;
  readonly #status: ShowStatus;
  #selected: string | undefined;
  /** Log lines are shown from the event stream past this event id (what the LOGS reply held is before it). */
  #logFromSeq = Infinity;
  /** The selected task's log lines that came while its LOGS request was under way: sorted out by the reply's seq. */
  #logWhileLoading: Array<{ log: WireLogLine; seq: number }> | undefined;
  #logAttempt = 0;
  #refreshTimer: number | undefined;

  constructor(tasks: ReadonlyMap<string, WireTask>, status: ShowStatus) {
    this.#tasks = tasks;
    this.#status = status;
  }

  get selected(): string | undefined {
    return this.#selected;
  }

  select(id: string | undefined): void {
    this.#selected = id;
    byId('details').hidden = id === undefined;
    if (!id) return;
    // What the page knows at once; the record (attempts, result) follows from GET.
    const task = this.#tasks.get(id);
    if (task) this.#render(task, []);
    byId('details-log').textContent = '';
    this.refresh(true);
  }

  /** The record (attempts, error, result) now and then; the log once, then it follows the events. */
  refresh(withLog: boolean): void {
    const id = this.#selected;
    if (!id) return;
    window.clearTimeout(this.#refreshTimer);
    this.#refreshTimer = window.setTimeout(() => void this.#load(id, withLog), withLog ? 0 : REFRESH_DELAY_MS);
  }

  async #load(id: string, withLog: boolean): Promise<void> {
    try {
      const record = await postJson('/api/request', { type: 'GET', taskId: id });
      if (this.#selected !== id) return;
      this.#render(record.task as WireTask, (record.attempts ?? []) as Array<Record<string, unknown>>);
      if (withLog) await this.#loadLog(id);
    } catch (error) {
      if (this.#selected === id) this.#logWhileLoading = undefined;
      this.#status(`Could not load task ${id}: ${(error as Error).message}`, 'error');
    }
  }

  async #loadLog(id: string): Promise<void> {
    this.#logWhileLoading = [];
    this.#logFromSeq = Infinity;
    const logs = await postJson('/api/request', { type: 'LOGS', taskId: id, tailBytes: LOG_TAIL_BYTES });
    if (this.#selected !== id) return;
    const pre = byId('details-log');
    pre.textContent = '';
    this.#logAttempt = logs.attempt as number;
    this.#logFromSeq = logs.seq as number;
    for (const { stream, line } of logs.lines as Array<{ stream: string; line: string }>)
      appendLogLine(pre, line, stream);
    const arrived = this.#logWhileLoading;
    this.#logWhileLoading = undefined;
    for (const { log, seq } of arrived) this.onLog(log, seq);
    pre.scrollTop = pre.scrollHeight;
  }

  /** A log line from the event stream (`seq`: its event number). */
  onLog(log: WireLogLine, seq: number): void {
    if (log.taskId !== this.#selected) return;
    if (this.#logWhileLoading) {
      this.#logWhileLoading.push({ log, seq });
      return;
    }
    if (seq <= this.#logFromSeq) return;
    const pre = byId('details-log');
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    if (log.attempt !== this.#logAttempt) {
      this.#logAttempt = log.attempt;
      appendLogLine(pre, `── attempt ${log.attempt} ──`, 'marker');
    }
    appendLogLine(pre, log.line, log.stream);
    while (pre.childNodes.length > MAX_LOG_LINES) pre.firstChild!.remove();
    if (follow) pre.scrollTop = pre.scrollHeight;
  }

  #render(task: WireTask, attempts: Array<Record<string, unknown>>): void {
    setText(byId('details-title'), `Task ${task.id} · ${task.name}`);
    renderFacts(task);
    renderOutcome(task);
    renderAttempts(attempts);
  }
}

function renderFacts(task: WireTask): void {
  const facts: Array<[string, string]> = [
    ['state', isTerminal(task.state) ? outcomeText(task) : stateLabel(task.state)],
    ['attempt', String(task.attempt)],
    ['pid', task.pid === undefined ? '' : String(task.pid)],
    ['what', clip(whatItRuns(task), 160)],
    ['created', timeOfDay(task.createdAt)],
    ['started', task.startedAt ? timeOfDay(task.startedAt) : ''],
    ['ended', task.endedAt ? timeOfDay(task.endedAt) : ''],
  ];
  const dl = byId('details-facts');
  dl.textContent = '';
  for (const [term, value] of facts) {
    if (!value) continue;
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

function whatItRuns(task: WireTask): string {
  return 'module' in task.spec
    ? `module ${String(task.spec.module)}`
    : `${String(task.spec.command)} ${(task.spec.args ?? []).join(' ')}`;
}

function renderOutcome(task: WireTask): void {
  const error = task.outcome?.error;
  byId('details-error-box').hidden = !error;
  setText(
    byId('details-error'),
    error ? `${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}\n${error.stack ?? ''}` : '',
  );
  const hasResult = task.outcome?.result !== undefined;
  byId('details-result-box').hidden = !hasResult;
  setText(byId('details-result'), hasResult ? valueText(task.outcome!.result) : '');
}

function renderAttempts(attempts: Array<Record<string, unknown>>): void {
  const body = byId('details-attempts');
  body.textContent = '';
  for (const attempt of attempts) {
    const tr = document.createElement('tr');
    const started = attempt.startedAt as number | undefined;
    const ended = attempt.endedAt as number | undefined;
    const cells = [
      String(attempt.attempt ?? ''),
      attempt.pid === undefined || attempt.pid === null ? '' : String(attempt.pid),
      started ? timeOfDay(started) : '',
      ended ? timeOfDay(ended) : '',
      String(attempt.state ?? attempt.outcome ?? ''),
    ];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
}

function appendLogLine(pre: HTMLElement, line: string, stream: string): void {
  const span = document.createElement('span');
  span.className = `log-${stream}`;
  span.textContent = `${line}\n`;
  pre.append(span);
}

/** A long command line cut to fit the details (taskwarden show has it whole). */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
