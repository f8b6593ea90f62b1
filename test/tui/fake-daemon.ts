/**
 * An in-memory stand-in for the daemon connection: tasks go through the supervisor's states on
 * request, replies can be held back (to see the screen before the daemon answers), fail, or the
 * connection can die.
 */
import type { DaemonEvent, DaemonHealth, RequestType } from '../../src/protocol/messages.js';
import { parseReply, type PayloadArgs, type ResponseOf } from '../../src/protocol/index.js';
import type { StoredLogLine } from '../../src/journal/index.js';
import type { TaskSnapshot, TaskSpec } from '../../src/supervisor/types.js';
import type { ConnectFn, TuiClient } from '../../src/tui/client.js';

export class FakeDaemonError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Held {
  release: () => void;
}

export class FakeDaemon {
  tasks = new Map<string, TaskSnapshot>();
  requests: Array<{ type: string; payload?: Record<string, unknown> }> = [];
  clients: FakeClient[] = [];
  pid = 4242;
  nextId = 1;
  /** When set, replies wait until release() is called. */
  hold = false;
  held: Held[] = [];
  /** Request types that fail with this error. */
  failures = new Map<string, FakeDaemonError>();
  /** Whether the daemon "runs": connect({autostart: false}) fails when not. */
  running = true;
  startedByAutostart = 0;
  /** How long a cancel takes to end the task; a task whose name includes 'stubborn' is killed instead. */
  cancelMs = 5;
  logs = new Map<string, StoredLogLine[]>();
  /** Sent in the HELLO reply when set. */
  health: DaemonHealth | undefined;
  /** When set, connecting waits until it resolves (a daemon that takes a while to start). */
  connectGate: Promise<void> | undefined;
  /** When set, a connect that starts the daemon waits until it resolves (the daemon's own start-up). */
  startGate: Promise<void> | undefined;
  /** Attempt records for GET, per task (the journal's); default one per attempt from the task. */
  attempts = new Map<string, Array<Record<string, unknown>>>();

  /** Makes connecting wait until the returned function is called. */
  gateConnect(): () => void {
    let open!: () => void;
    this.connectGate = new Promise<void>((resolve) => (open = resolve));
    return () => {
      this.connectGate = undefined;
      open();
    };
  }

  /** Makes starting the daemon wait until the returned function is called. */
  gateStart(): () => void {
    let open!: () => void;
    this.startGate = new Promise<void>((resolve) => (open = resolve));
    return () => {
      this.startGate = undefined;
      open();
    };
  }

  connect: ConnectFn = async ({ autostart }) => {
    if (this.connectGate) await this.connectGate;
    if (!this.running) {
      if (!autostart) throw new Error('connect ENOENT (no daemon)');
      if (this.startGate) await this.startGate;
      this.running = true;
      this.startedByAutostart += 1;
    }
    const client = new FakeClient(this);
    this.clients.push(client);
    return client;
  };

  emit(event: DaemonEvent): void {
    for (const c of this.clients) if (!c.closed && c.subscribed) c.deliver(event);
  }

  /** Kills the connection(s) as a dying daemon would. */
  die(): void {
    this.running = false;
    for (const c of this.clients) c.drop(new Error('connection reset by peer'));
  }

  releaseAll(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) h.release();
  }

  set(task: TaskSnapshot, previous?: TaskSnapshot['state']): TaskSnapshot {
    this.tasks.set(task.id, task);
    const terminal = ['completed', 'failed', 'cancelled', 'killed', 'interrupted'].includes(task.state);
    this.emit(
      terminal ? { type: 'TASK_COMPLETE', task } : { type: 'TASK_STATUS', task, ...(previous ? { previous } : {}) },
    );
    return task;
  }

  add(spec: TaskSpec, state: TaskSnapshot['state'] = 'running'): TaskSnapshot {
    const id = String(this.nextId++);
    const now = Date.now();
    const task: TaskSnapshot = {
      id,
      name: spec.name ?? ('module' in spec ? spec.module : spec.command),
      kind: 'module' in spec ? 'module' : 'command',
      spec,
      state,
      attempt: 1,
      createdAt: now,
      ...(state !== 'queued' ? { startedAt: now, pid: 10_000 + Number(id) } : {}),
    };
    return this.set(task);
  }

  progress(id: string, fraction: number, message?: string): void {
    const task = this.tasks.get(id);
    if (task) this.tasks.set(id, { ...task, progress: { fraction, ...(message ? { message } : {}) } });
    this.emit({ type: 'TASK_PROGRESS', taskId: id, progress: { fraction, ...(message ? { message } : {}) } });
  }

  end(
    id: string,
    state: 'completed' | 'failed' | 'cancelled' | 'killed',
    extra: Partial<NonNullable<TaskSnapshot['outcome']>> = {},
  ): TaskSnapshot {
    const task = this.tasks.get(id)!;
    const now = Date.now();
    return this.set({
      ...task,
      state,
      endedAt: now,
      outcome: {
        state,
        durationMs: now - (task.startedAt ?? now),
        attempt: task.attempt,
        ...(state === 'killed' ? { signal: 'SIGKILL' as const } : {}),
        ...extra,
      },
    });
  }

  async handle(type: string, payload: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    this.requests.push({ type, payload });
    if (this.hold) await new Promise<void>((release) => this.held.push({ release }));
    const failure = this.failures.get(type);
    if (failure) throw failure;
    const taskId = payload.taskId as string | undefined;
    const task = taskId ? this.tasks.get(taskId) : undefined;
    if (taskId && !task) throw new FakeDaemonError('UNKNOWN_TASK', `no task ${taskId}`);
    switch (type) {
      case 'TASK_REQUEST':
        return { task: this.add(payload.spec as TaskSpec) };
      case 'TASK_CANCEL': {
        const t = this.set({ ...task!, state: 'cancelling', stopReason: 'cancel' }, task!.state);
        setTimeout(() => {
          if (task!.name.includes('stubborn')) this.end(t.id, 'killed', { escalated: true, stopReason: 'cancel' });
          else this.end(t.id, 'cancelled', { stopReason: 'cancel' });
        }, this.cancelMs);
        return { task: t, previous: task!.state };
      }
      case 'TASK_KILL': {
        const t = this.set({ ...task!, state: 'killing', stopReason: 'kill' }, task!.state);
        setTimeout(() => this.end(t.id, 'killed', { stopReason: 'kill' }), 2);
        return { task: t, previous: task!.state };
      }
      case 'TASK_RESTART': {
        const now = Date.now();
        const t = this.set(
          {
            ...task!,
            state: 'running',
            attempt: task!.attempt + 1,
            startedAt: now,
            outcome: undefined,
            endedAt: undefined,
          },
          task!.state,
        );
        return { task: t, previous: task!.state };
      }
      case 'STOP_ALL': {
        let cancelled = 0;
        let killed = 0;
        let notStarted = 0;
        for (const t of [...this.tasks.values()]) {
          if (['completed', 'failed', 'cancelled', 'killed', 'interrupted'].includes(t.state)) continue;
          if (t.state === 'queued') notStarted += 1;
          else if (t.name.includes('stubborn')) killed += 1;
          else cancelled += 1;
          this.end(t.id, t.name.includes('stubborn') ? 'killed' : 'cancelled', { stopReason: 'stop-all' });
        }
        return { result: { cancelled, killed, notStarted, finished: 0, ms: 12 } };
      }
      case 'LOGS':
        return { attempt: task!.attempt, lines: this.logs.get(taskId!) ?? [] };
      case 'GET':
        return {
          task: task!,
          attempts: this.attempts.get(taskId!) ?? [
            {
              attempt: task!.attempt,
              state: task!.state,
              ...(task!.pid !== undefined ? { pid: task!.pid } : {}),
              ...(task!.startedAt !== undefined ? { startedAt: task!.startedAt } : {}),
            },
          ],
          transitions: [],
        };
      case 'LIST':
        return { tasks: [...this.tasks.values()] };
      case 'SHUTDOWN':
        setTimeout(() => this.die(), 1);
        return {};
      default:
        throw new FakeDaemonError('UNKNOWN_TYPE', `unknown request ${type}`);
    }
  }
}

export class FakeClient implements TuiClient {
  closed = false;
  subscribed = false;
  #events: Array<(e: DaemonEvent) => void> = [];
  #closes: Array<(e: Error | undefined) => void> = [];

  constructor(readonly daemon: FakeDaemon) {}

  get welcome() {
    return {
      version: 1,
      daemonPid: this.daemon.pid,
      home: '/tmp/fake-home',
      ...(this.daemon.health ? { health: this.daemon.health } : {}),
    };
  }

  /** Every reply is checked against the protocol's reply schemas, as the real client checks the real daemon's. */
  async request<T extends RequestType>(type: T, ...[payload]: PayloadArgs<T>): Promise<ResponseOf<T>> {
    if (this.closed) throw new Error('connection closed');
    const reply = await this.daemon.handle(type, payload);
    const checked = parseReply(type, reply);
    if (!checked.ok) throw new Error(`the fake daemon's reply breaks the protocol: ${checked.error.message}`);
    return checked.reply;
  }

  async subscribe(): Promise<TaskSnapshot[]> {
    this.subscribed = true;
    return [...this.daemon.tasks.values()];
  }

  onEvent(listener: (event: DaemonEvent) => void): void {
    this.#events.push(listener);
  }

  onClose(listener: (error: Error | undefined) => void): void {
    this.#closes.push(listener);
  }

  deliver(event: DaemonEvent): void {
    for (const l of this.#events) l(event);
  }

  drop(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.#closes) l(error);
  }

  close(): void {
    this.drop(undefined);
  }
}
