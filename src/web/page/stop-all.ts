/**
 * The emergency stop button: two clicks on the same spot, the first arms it and says how many tasks
 * it would stop, the second marks every running and queued task as stopping at once and sends
 * STOP_ALL; the status line then says how many were cancelled, killed or never started.
 */
import type { ClickMetric, ClickMetrics } from './click-metrics.js';
import { byId, setText } from './dom.js';
import { duration } from './format.js';
import { isTerminal } from './model.js';
import { postJson } from './post-json.js';
import type { ActionHost } from './row-actions.js';

/** How long the emergency stop waits for its confirming second click. */
const STOP_ALL_ARMED_MS = 4000;

interface StopAllResult {
  cancelled?: number;
  killed?: number;
  notStarted?: number;
  finished?: number;
}

export class StopAllButton {
  readonly #host: ActionHost;
  readonly #metrics: ClickMetrics;
  #armed: number | undefined;

  constructor(host: ActionHost, metrics: ClickMetrics) {
    this.#host = host;
    this.#metrics = metrics;
    byId('stop-all').addEventListener('click', (event) => this.#click(event));
  }

  #click(event: MouseEvent): void {
    const active = [...this.#host.tasks.values()].filter((t) => !isTerminal(t.state));
    if (this.#armed === undefined) {
      this.#arm(active.length);
      return;
    }
    this.#disarm();
    const host = this.#host;
    const at = performance.now();
    const metric: ClickMetric = { action: 'stop-all', taskId: '*' };
    this.#metrics.keep(metric);
    for (const task of active) {
      host.pending.set(task.id, { action: 'stop', at, attempt: task.attempt });
      host.renderRow(task.id);
    }
    host.status(`Emergency stop — terminating ${plural(active.length, 'task')}…`, 'busy');
    const clickedAt = event.timeStamp;
    requestAnimationFrame(() => (metric.clickToShownMs = performance.now() - clickedAt));
    void postJson('/api/request', { type: 'STOP_ALL' })
      .then(
        (reply) => {
          metric.clickToConfirmedMs = performance.now() - at;
          metric.outcome = 'stopped';
          host.status(stoppedText(reply.result ?? {}, performance.now() - at), 'success');
        },
        (error: unknown) => host.status(`Emergency stop failed: ${(error as Error).message}`, 'error'),
      )
      .finally(() => {
        for (const task of active) {
          if (host.pending.get(task.id)?.action === 'stop') host.pending.delete(task.id);
          host.markChanged(task.id);
        }
        host.requestFrame();
      });
  }

  #arm(active: number): void {
    if (active === 0) {
      this.#host.status('Nothing to stop: no task is running or queued.', 'info');
      return;
    }
    const button = byId('stop-all');
    button.dataset.armed = 'true';
    setText(button, `Click again to stop ${plural(active, 'task')}`);
    this.#armed = window.setTimeout(() => this.#disarm(), STOP_ALL_ARMED_MS);
  }

  #disarm(): void {
    window.clearTimeout(this.#armed);
    this.#armed = undefined;
    const button = byId('stop-all');
    delete button.dataset.armed;
    setText(button, 'Stop everything');
  }
}

function stoppedText(result: StopAllResult, ms: number): string {
  const parts = [`${result.cancelled ?? 0} cancelled`, `${result.killed ?? 0} killed`];
  if (result.notStarted) parts.push(`${result.notStarted} not started`);
  if (result.finished) parts.push(`${result.finished} finished on their own`);
  const stopped = (result.cancelled ?? 0) + (result.killed ?? 0) + (result.notStarted ?? 0);
  return `Stopped ${plural(stopped, 'task')} in ${duration(ms)} (${parts.join(', ')})`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
