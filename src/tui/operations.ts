/**
 * The operations the keys ask of the daemon (start a template, cancel, kill, restart, stop all):
 * each is on screen before the daemon is asked (the row's pending state, the status line, the
 * fast paint), and the outcome the daemon confirms, timed from the key press, replaces it.
 */
import { isFinishedState } from '../journal/recorded-state.js';
import { errorText } from './client.js';
import type { Connection } from './connection.js';
import { formatDuration, oneLine } from './format.js';
import type { TuiStore } from './store.js';
import { isActive, type TaskView } from './task-view.js';

type TaskOpKind = 'cancel' | 'kill' | 'restart';
type TaskOp = { op: TaskOpKind; at: number; attempt: number };

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export interface OperationsOptions {
  store: TuiStore;
  connection: Connection;
  /** Paints these rows and the status line at once, ahead of the next frame (fast-paint.ts). */
  paint: (taskIds: readonly string[]) => void;
  /** Whether the daemon can be asked now; says why not on the status line when it cannot. */
  ready: () => boolean;
  /** The selection moved to a task this module started. */
  selected: () => void;
}

export class Operations {
  readonly #ops = new Map<string, TaskOp>();
  readonly #options: OperationsOptions;

  constructor(options: OperationsOptions) {
    this.#options = options;
  }

  /** The connection is gone: nothing asked will be confirmed. */
  forgetAll(): void {
    this.#ops.clear();
  }

  activeTasks(): TaskView[] {
    return [...this.#options.store.draft.tasks.values()].filter(isActive);
  }

  /** Starts template `key`; resolves with the new task's id (undefined when it did not start). */
  async startTemplate(key: number): Promise<string | undefined> {
    const { store, connection } = this.#options;
    const template = store.draft.templates.find((t) => t.key === key);
    if (!template) {
      const n = store.draft.templates.length;
      store.setStatus(
        n > 0 ? `No template ${key}: templates are 1-${n} (? lists them).` : 'No templates configured.',
        'warn',
      );
      store.changed(true);
      return undefined;
    }
    if (!this.#options.ready()) return undefined;
    store.setStatus(`Starting template ${key}: ${template.name}…`, 'busy');
    this.#options.paint([]);
    store.changed(true);
    const at = performance.now();
    try {
      const { task } = await connection.request('TASK_REQUEST', { spec: template.spec });
      store.upsertTask(task, true);
      store.select(task.id);
      this.#options.selected();
      store.setStatus(`Started task ${task.id}: ${task.name} (${formatDuration(performance.now() - at)})`, 'success');
      store.changed(true);
      return task.id;
    } catch (error) {
      if (connection.client === undefined) return undefined; // the close handler has said what happened
      store.setStatus(`Could not start “${template.name}”: ${oneLine(errorText(error))}`, 'error');
    }
    store.changed(true);
    return undefined;
  }

  /** `taskId`: the task to act on (a request made while connecting); default the selected one. */
  async taskOp(op: TaskOpKind, taskId?: string): Promise<void> {
    const { store, connection } = this.#options;
    const id = taskId ?? store.draft.selectedId;
    const task = id === undefined ? undefined : store.task(id);
    if (!task) {
      store.setStatus(
        taskId !== undefined
          ? `Task ${taskId} is not known to the daemon: nothing to ${op}.`
          : 'No task selected: start one with 1-9.',
        'warn',
      );
      store.changed(true);
      return;
    }
    if (op !== 'restart' && isFinishedState(task.state)) {
      store.setStatus(
        `Task ${task.id} has already ${task.state === 'completed' ? 'completed' : `ended (${task.state})`}; r runs it again.`,
        'info',
      );
      store.changed(true);
      return;
    }
    if (!this.#options.ready()) return;
    const at = performance.now();
    // On screen first, in this very frame; the daemon is asked afterwards.
    store.setPending(task.id, op);
    this.#ops.set(task.id, { op, at, attempt: task.attempt });
    store.setStatus(
      op === 'cancel'
        ? `Cancelling task ${task.id} (SIGTERM; SIGKILL if it is still there after the grace period)…`
        : op === 'kill'
          ? `Killing task ${task.id} (SIGKILL to its process group)…`
          : `Restarting task ${task.id} (attempt ${task.attempt + 1})…`,
      'busy',
    );
    this.#options.paint([task.id]);
    store.changed(true);
    const type = op === 'cancel' ? 'TASK_CANCEL' : op === 'kill' ? 'TASK_KILL' : 'TASK_RESTART';
    try {
      const reply = await connection.request(type, { taskId: task.id });
      const view = store.upsertTask(reply.task, true);
      if (view) this.observe(view);
      store.changed();
    } catch (error) {
      if (connection.client === undefined) return;
      this.#ops.delete(task.id);
      store.setPending(task.id, undefined);
      const verb = op === 'cancel' ? 'Cancel' : op === 'kill' ? 'Kill' : 'Restart';
      store.setStatus(`${verb} of task ${task.id} failed: ${oneLine(errorText(error))}`, 'error');
      store.changed(true);
    }
  }

  /** p: pause a running task, resume a paused one; the state comes back with the daemon's events. */
  async togglePause(): Promise<void> {
    const { store, connection } = this.#options;
    const id = store.draft.selectedId;
    const task = id === undefined ? undefined : store.task(id);
    if (!task || (task.state !== 'running' && task.state !== 'paused')) {
      store.setStatus(
        task
          ? `Task ${task.id} is ${task.state}: only a running task can be paused.`
          : 'No task selected: start one with 1-9.',
        'info',
      );
      store.changed(true);
      return;
    }
    if (!this.#options.ready()) return;
    const resume = task.state === 'paused';
    store.setStatus(
      resume ? `Resuming task ${task.id}…` : `Pausing task ${task.id} (every process of it frozen where it is)…`,
      'busy',
    );
    store.changed(true);
    try {
      const reply = await connection.request(resume ? 'TASK_RESUME' : 'TASK_PAUSE', { taskId: task.id });
      store.upsertTask(reply.task, true);
      store.setStatus(
        resume ? `Task ${task.id} runs on.` : `Task ${task.id} paused: p resumes it; k and K stop it at once.`,
        'success',
      );
    } catch (error) {
      if (connection.client === undefined) return;
      store.setStatus(
        `${resume ? 'Resume' : 'Pause'} of task ${task.id} failed: ${oneLine(errorText(error))}`,
        'error',
      );
    }
    store.changed(true);
  }

  /** The emergency stop (s). */
  async stopAll(): Promise<void> {
    const { store, connection } = this.#options;
    const active = this.activeTasks();
    if (active.length === 0) {
      store.setStatus('Nothing to stop: no task is running.', 'info');
      store.changed(true);
      return;
    }
    if (!this.#options.ready()) return;
    const at = performance.now();
    for (const t of active) {
      store.setPending(t.id, 'stop');
      this.#ops.delete(t.id);
    }
    store.setStatus(`Emergency stop — terminating ${plural(active.length, 'task')}…`, 'busy');
    this.#options.paint(active.map((t) => t.id));
    store.changed(true);
    try {
      const { result } = await connection.request('STOP_ALL');
      const { cancelled, killed, notStarted, finished } = result;
      const parts = [`${cancelled} cancelled`, `${killed} killed`];
      if (notStarted > 0) parts.push(`${notStarted} not started`);
      if (finished > 0) parts.push(`${finished} finished on their own`);
      store.setStatus(
        `Stopped ${plural(cancelled + killed + notStarted, 'task')} in ${seconds(performance.now() - at)} (${parts.join(', ')})`,
        'success',
      );
    } catch (error) {
      if (connection.client === undefined) return;
      store.setStatus(`Emergency stop failed: ${oneLine(errorText(error))}`, 'error');
    }
    for (const t of active) store.setPending(t.id, undefined);
    store.changed(true);
  }

  /** Turns a task change into the confirmed outcome of an operation asked for on this screen. */
  observe(task: TaskView): void {
    const op = this.#ops.get(task.id);
    if (!op) return;
    const store = this.#options.store;
    const ms = performance.now() - op.at;
    if (op.op === 'restart') {
      if (task.attempt <= op.attempt) return;
      if (task.state === 'running' || isFinishedState(task.state)) {
        this.#ops.delete(task.id);
        store.setStatus(
          `Task ${task.id} restarted: attempt ${task.attempt} ${task.state} (${formatDuration(ms)})`,
          task.state === 'failed' ? 'warn' : 'success',
        );
        store.changed(true);
      }
      return;
    }
    if (!isFinishedState(task.state) || task.attempt !== op.attempt) return;
    this.#ops.delete(task.id);
    const { text, tone } = stopOutcome(task, op.op, ms);
    store.setStatus(text, tone);
    store.changed(true);
  }
}

/** The status line for a cancel or kill the daemon has confirmed, `ms` after the key press. */
function stopOutcome(task: TaskView, op: 'cancel' | 'kill', ms: number): { text: string; tone: 'success' | 'warn' } {
  switch (task.state) {
    case 'killed': {
      const text = `Task ${task.id} killed (${task.outcome?.signal ?? 'SIGKILL'}) after ${formatDuration(ms)}`;
      return {
        text: op === 'cancel' ? `${text}: it ignored the cancel, so it was killed when the grace period ran out` : text,
        tone: 'success',
      };
    }
    case 'cancelled':
      return { text: `Task ${task.id} cancelled after ${formatDuration(ms)}`, tone: 'success' };
    case 'completed':
      return { text: `Task ${task.id} completed before the ${op} took effect (${formatDuration(ms)})`, tone: 'warn' };
    default:
      return {
        text: `Task ${task.id} ${task.state} after ${formatDuration(ms)}${task.outcome?.error ? `: ${oneLine(task.outcome.error.message)}` : ''}`,
        tone: 'warn',
      };
  }
}
