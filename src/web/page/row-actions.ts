/**
 * The buttons of a task's row (cancel, kill, restart, pause, resume): a click changes its row at
 * once, in the click's own frame (optimistic, as the terminal UI does), then sends the protocol
 * request; when the task's events show the outcome the click was waiting for, the row and the
 * status line say the confirmed outcome with its time.
 */
import type { ClickMetric, ClickMetrics } from './click-metrics.js';
import { duration, type PendingAction } from './format.js';
import type { ShowStatus } from './header.js';
import { isTerminal, type WireTask } from './model.js';
import { postJson } from './post-json.js';
import type { Pending } from './view.js';

/** What the buttons change on the page. */
export interface ActionHost {
  readonly tasks: ReadonlyMap<string, WireTask>;
  /** The clicks waiting for their outcome, by task. */
  readonly pending: Map<string, Pending>;
  /** Draws a task's row now, in this frame. */
  renderRow(id: string): void;
  /** Marks a task's row to be drawn in the next frame. */
  markChanged(id: string): void;
  requestFrame(): void;
  status: ShowStatus;
}

/** The protocol request each row button sends. */
const REQUEST_OF = {
  cancel: 'TASK_CANCEL',
  kill: 'TASK_KILL',
  restart: 'TASK_RESTART',
  pause: 'TASK_PAUSE',
  resume: 'TASK_RESUME',
  stop: 'STOP_ALL',
} as const;

export class RowActions {
  readonly #host: ActionHost;
  readonly #metrics: ClickMetrics;

  constructor(host: ActionHost, metrics: ClickMetrics) {
    this.#host = host;
    this.#metrics = metrics;
  }

  click(id: string, action: PendingAction, event: MouseEvent): void {
    const host = this.#host;
    const task = host.tasks.get(id);
    if (!task) return;
    const at = performance.now();
    const metric: ClickMetric = { action, taskId: id, dispatchMs: at - event.timeStamp };
    this.#metrics.keep(metric);
    host.pending.set(id, { action, at, attempt: task.attempt });
    // The pending label goes on screen in this very frame, before the daemon hears of the click.
    host.renderRow(id);
    metric.handlerMs = performance.now() - at;
    const clickedAt = event.timeStamp;
    performance.mark(`taskwarden:click:${action}:${id}`, { startTime: clickedAt });
    requestAnimationFrame(() => {
      performance.mark(`taskwarden:shown:${action}:${id}`);
      metric.clickToShownMs = performance.now() - clickedAt;
    });
    void postJson('/api/request', { type: REQUEST_OF[action], taskId: id }).then(
      () => this.observe(host.tasks.get(id) ?? task),
      (failure: unknown) => {
        const error = failure as Error;
        host.pending.delete(id);
        host.markChanged(id);
        host.requestFrame();
        metric.outcome = `error: ${error.message}`;
        host.status(`${action} of task ${id} failed: ${error.message}`, 'error');
      },
    );
  }

  /** A task changed: if a click on this page is waiting for it, this may be its confirmed outcome. */
  observe(task: WireTask): void {
    const pending = this.#host.pending.get(task.id);
    if (!pending || pending.action === 'stop') return;
    const ms = performance.now() - pending.at;
    const confirmed = confirmation(pending, task, ms);
    if (!confirmed) return;
    this.#host.pending.delete(task.id);
    this.#host.markChanged(task.id);
    // The row loses its pending label now, also when the POST's reply (not an event) confirmed it.
    this.#host.requestFrame();
    this.#host.status(confirmed.text, confirmed.tone);
    const metric = this.#metrics.unconfirmed(task.id);
    if (metric) {
      metric.clickToConfirmedMs = ms;
      metric.outcome = task.state;
    }
  }
}

/** What the status line says once `task` shows the outcome of the click `pending`; undefined while it does not. */
function confirmation(
  pending: Pending,
  task: WireTask,
  ms: number,
): { text: string; tone: 'success' | 'warn' } | undefined {
  const { action } = pending;
  const tookEffectBefore = `Task ${task.id} ${task.state} before the ${action} took effect (${duration(ms)})`;
  if (action === 'pause' || action === 'resume') {
    const done = action === 'pause' ? 'paused' : 'running';
    if (task.state !== done && !isTerminal(task.state)) return undefined;
    if (task.state !== done) return { text: tookEffectBefore, tone: 'warn' };
    return { text: `Task ${task.id} ${action === 'pause' ? 'paused' : 'resumed'} (${duration(ms)})`, tone: 'success' };
  }
  if (action === 'restart') {
    if (task.attempt <= pending.attempt || (task.state !== 'running' && !isTerminal(task.state))) return undefined;
    return {
      text: `Task ${task.id} restarted: attempt ${task.attempt} ${task.state} (${duration(ms)})`,
      tone: 'success',
    };
  }
  if (!isTerminal(task.state) || task.attempt !== pending.attempt) return undefined;
  if (task.state === 'killed') {
    let text = `Task ${task.id} killed (${task.outcome?.signal ?? 'SIGKILL'}) after ${duration(ms)}`;
    if (action === 'cancel') text += ': it ignored the cancel, so it was killed when the grace period ran out';
    return { text, tone: 'success' };
  }
  if (task.state === 'cancelled') return { text: `Task ${task.id} cancelled after ${duration(ms)}`, tone: 'success' };
  return { text: tookEffectBefore, tone: 'warn' };
}
