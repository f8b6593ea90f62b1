/**
 * What each click on the page cost, as the page itself measures it: from the input event to the
 * pending label on screen, and to the daemon's confirmed outcome. The benchmark reads them
 * (window.taskwarden.metrics); the newest MAX_METRICS are kept.
 */

export interface ClickMetric {
  action: string;
  taskId: string;
  /** Click (the input event's time) -> the frame that shows the pending label. */
  clickToShownMs?: number;
  /** Click -> this page's handler runs: the browser's input dispatch. */
  dispatchMs?: number;
  /** The handler's own work: the row redrawn with the pending label. */
  handlerMs?: number;
  /** Click -> the daemon's confirmed outcome on screen. */
  clickToConfirmedMs?: number;
  outcome?: string;
}

const MAX_METRICS = 1000;

export class ClickMetrics {
  /** Oldest first; the same array for the page's life (the benchmark holds it). */
  readonly list: ClickMetric[] = [];

  keep(metric: ClickMetric): void {
    this.list.push(metric);
    if (this.list.length > MAX_METRICS) this.list.splice(0, this.list.length - MAX_METRICS);
  }

  /** The latest click on a task that has no confirmed outcome yet. */
  unconfirmed(taskId: string): ClickMetric | undefined {
    return [...this.list].reverse().find((m) => m.taskId === taskId && m.clickToConfirmedMs === undefined);
  }
}
