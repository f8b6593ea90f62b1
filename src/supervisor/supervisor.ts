/**
 * The Supervisor runs every task in its own process group and stops it gracefully or at once:
 * the public API (start, stop, pause, restart, stopAll, shutdown, snapshots, events). Its engine,
 * executor.ts, feeds the pure state machine (state-machine.ts) and executes its actions with the
 * parts beside it, each with its one concern: admission to the slots (admission.ts), an attempt's
 * process from spawn to settling (attempt-lifecycle.ts), spawning it (attempt-spawn.ts), listening
 * to its process (child-wiring.ts), every process of it and the OS work on them
 * (src/process/attempt-processes.ts), what the process reports (attempt-reports.ts), the end of a
 * reusable run (runner-reuse.ts), stops (stopping.ts), the watchdog's rules (watchdog.ts), usage
 * sampling (usage-sampler.ts) and the per-task bookkeeping (task-record.ts). Everything that
 * touches the OS lives in src/process; everything that decides lives in the machine.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  automaticContainment,
  cgroupPriorityMechanism,
  containmentSupport,
  processGroupSupport,
  type ContainmentSupport,
} from '../process/cgroup/support.js';
import { sweepLeftovers, TaskCgroups } from '../process/cgroup/owner.js';
import { cpuPriority, priorityMechanism } from '../process/priority.js';
import { LineageMark } from '../process/lineage.js';
import { OrphanGuard } from '../process/orphan-guard.js';
import { withCode } from '../common/task-errors.js';
import { TASK_ID_RULE, isTaskId } from '../common/task-id.js';
import { resolveOptions, reuseLimit, validateSpec, type ResolvedOptions, type SupervisorOptions } from './options.js';
import { TaskExecutor } from './executor.js';
import { cgroupsRemoved } from './idle-runners.js';
import { initialState } from './state-machine.js';
import { Task } from './task.js';
import { RestartIntensity } from './restart-intensity.js';
import { defaultName, deferred, snapshotOf, type TaskRecord } from './task-record.js';
import type { StopAllResult, StopReason, SupervisorEvent, TaskOutcome, TaskSnapshot, TaskSpec } from './types.js';
import { isTerminalState } from './types.js';

export interface StartOptions {
  /** The task's id; default: the next from the `nextId` option. */
  id?: string;
  /** Number of the first attempt, for a task that ran before (default 1). */
  attempt?: number;
  /** When the task was first created (ms since the epoch), for a task that ran before. */
  createdAt?: number;
}

export interface SupervisorEvents {
  event: [event: SupervisorEvent];
}

/** Longest shutdown() waits for ended idle runners to be reaped (SIGKILL takes milliseconds). */
const RUNNERS_REAPED_MAX_MS = 2000;

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: ResolvedOptions;
  readonly #containment: ContainmentSupport;
  /** Makes the task cgroups; undefined with process-group containment. */
  readonly #cgroups: TaskCgroups | undefined;
  readonly #guard: OrphanGuard;
  readonly #executor: TaskExecutor;
  readonly #onProcessExit = () => this.#executor.killEverythingNow();
  #shutDown = false;

  constructor(options: SupervisorOptions = {}) {
    super();
    this.#options = resolveOptions(options);
    const token = options.lineageToken ?? randomBytes(8).toString('hex');
    const mark = new LineageMark(token);
    this.#containment = chooseContainment(this.#options.containment);
    const layout = this.#containment.layout;
    const cgroups = layout ? new TaskCgroups(layout, token) : undefined;
    this.#cgroups = cgroups;
    if (layout) {
      // What owners that died with their guard left behind (rare: both killed at once). After this
      // turn: a daemon's recovery, right after construction, first records which tasks it kills.
      setImmediate(() => void sweepLeftovers(layout).catch(() => {}));
    }
    this.#guard = new OrphanGuard(mark, cgroups && { prefix: cgroups.prefix, parents: cgroups.parents });
    this.#executor = new TaskExecutor({
      options: this.#options,
      mark,
      cgroups,
      guard: this.#guard,
      emit: (event) => this.#emitEvent(event),
      listened: () => this.listenerCount('event') > 0,
    });
    // A normal exit or an uncaught throw still runs 'exit' handlers: kill synchronously there.
    // SIGKILL of this process runs nothing; the orphan guard covers that.
    process.on('exit', this.#onProcessExit);
  }

  /** The CPU priority mechanism in force for tasks at the default priority, in words (diagnostics). */
  get priorityMechanism(): string {
    const cpu = this.#cgroups?.layout.cpu;
    return cpu ? cgroupPriorityMechanism(this.#options.cpu, cpu) : priorityMechanism(this.#options.cpu);
  }

  /**
   * How task processes are held here: 'cgroup' or 'process-group', what is in force and why not
   * more (for `taskwarden doctor`, the daemon's WELCOME).
   */
  get containment(): ContainmentSupport {
    return this.#containment;
  }

  /** Pid of the orphan guard process (diagnostics, tests). */
  get guardPid(): number | undefined {
    return this.#guard.pid;
  }

  /**
   * Queues a task and returns its handle at once. `options.id` gives the task a
   * chosen id; `attempt` and `createdAt` continue a task recorded elsewhere (the
   * daemon re-queues and restarts journaled tasks under their old ids).
   */
  start(spec: TaskSpec, options: StartOptions = {}): Task {
    if (this.#shutDown) throw new Error('this Supervisor is shut down: create a new one to start tasks');
    const owned = validateSpec(spec);
    const id = options.id ?? this.#options.nextId();
    if (!isTaskId(id) || this.#executor.tasks.has(id)) {
      throw new TypeError(
        `task id ${JSON.stringify(id)} is not a new task id (${TASK_ID_RULE}; ids come from options.id or the nextId option)`,
      );
    }
    const attempt = options.attempt ?? 1;
    if (!Number.isSafeInteger(attempt) || attempt < 1)
      throw new TypeError(`start() option attempt must be an integer >= 1, got ${String(attempt)}`);
    const createdAt = options.createdAt ?? Date.now();
    if (!Number.isFinite(createdAt))
      throw new TypeError(`start() option createdAt must be a time in ms since the epoch, got ${String(createdAt)}`);
    const kind = 'module' in owned && owned.module !== undefined ? 'module' : 'command';
    const memoryMax = owned.memoryMax ?? this.#options.memoryMax;
    if (memoryMax !== undefined && !this.#cgroups?.layout.memory) {
      throw new TypeError(`cannot limit the memory of task ${id}: ${memoryLimitUnavailable(this.#containment)}`);
    }
    const progressOut = this.#executor.progressOut(() => record);
    const record: TaskRecord = {
      id,
      name: owned.name ?? defaultName(owned),
      spec: owned,
      kind,
      cpu: owned.priority !== undefined ? cpuPriority(owned.priority) : this.#options.cpu,
      handle: new Task(this.#taskOwner, id),
      createdAt,
      restarts: new RestartIntensity(
        this.#options.maxRestarts,
        this.#options.restartWindowMs,
        this.#options.restartBackoffMs,
      ),
      memoryMax,
      reuseLimit: kind === 'module' ? reuseLimit((owned as { reuse?: boolean | number }).reuse) : 1,
      progressOut,
      machine: initialState(kind, attempt),
      lastActivityAt: Date.now(),
      timers: {},
      done: deferred(),
    };
    this.#executor.add(record);
    return record.handle;
  }

  /**
   * Resolves once the prewarmed runners are booted and have preloaded their
   * modules, so the next start() takes the fast path. Immediate with prewarm 0.
   */
  warm(): Promise<void> {
    return this.#executor.pool?.warm() ?? Promise.resolve();
  }

  get(id: string): Task | undefined {
    return this.#executor.tasks.get(id)?.handle;
  }

  list(): TaskSnapshot[] {
    return [...this.#executor.tasks.values()].map(snapshotOf);
  }

  cancel(id: string): void {
    this.#executor.dispatch(this.#record(id), { type: 'cancel', reason: 'cancel', at: Date.now() });
  }

  kill(id: string): void {
    this.#executor.dispatch(this.#record(id), { type: 'kill', reason: 'kill', at: Date.now() });
  }

  /**
   * Freezes a running task: every process of it stops where it is, keeping its memory and its
   * concurrency slot, until resume(). With cgroups the task cannot tell (cgroup.freeze); with
   * process groups it is SIGSTOP/SIGCONT to the group, which a task can see and a process that
   * left the group escapes. The watchdog does not count a paused task as stalled; cancel and kill
   * of a paused task work at once. Throws for a task that is not running or paused.
   */
  pause(id: string): void {
    const record = this.#record(id);
    if (record.machine.state === 'paused') return;
    if (record.machine.state !== 'running') throw notPausable(record, 'paused');
    this.#executor.dispatch(record, { type: 'pause', at: Date.now() });
  }

  /** Thaws a paused task; nothing for a running one. Throws for a task in any other state. */
  resume(id: string): void {
    const record = this.#record(id);
    if (record.machine.state === 'running') return;
    if (record.machine.state !== 'paused') throw notPausable(record, 'resumed');
    this.#executor.dispatch(record, { type: 'resume', at: Date.now() });
  }

  restart(id: string): void {
    if (this.#shutDown) throw new Error(`cannot restart task ${id}: this Supervisor is shut down`);
    this.#executor.dispatch(this.#record(id), { type: 'restart', reason: 'restart', at: Date.now() });
  }

  /** Forgets finished tasks (they stay listed until then). Returns how many were removed. */
  clearFinished(): number {
    let removed = 0;
    for (const [id, record] of this.#executor.tasks) {
      if (isTerminalState(record.machine.state)) {
        this.#executor.tasks.delete(id);
        removed += 1;
      }
    }
    return removed;
  }

  /**
   * The emergency stop: queued tasks are cancelled without ever starting,
   * running ones are cancelled in parallel (escalating to SIGKILL after the
   * grace period). Resolves when every process is reaped and every group empty.
   */
  async stopAll(reason: StopReason = 'stop-all'): Promise<StopAllResult & { finished: number }> {
    const startedAt = performance.now();
    const at = Date.now();
    let notStarted = 0;
    const waiting: Array<Promise<TaskOutcome>> = [];
    for (const record of [...this.#executor.tasks.values()]) {
      if (isTerminalState(record.machine.state)) continue;
      if (record.machine.state === 'queued') notStarted += 1;
      else waiting.push(record.done.promise);
      this.#executor.dispatch(record, { type: 'cancel', reason, at });
    }
    const outcomes = await Promise.all(waiting);
    const killed = outcomes.filter((o) => o.state === 'killed').length;
    const cancelled = outcomes.filter((o) => o.state === 'cancelled').length;
    return {
      cancelled,
      killed,
      notStarted,
      finished: outcomes.length - killed - cancelled,
      ms: performance.now() - startedAt,
    };
  }

  /** Stops everything (as stopAll), releases prewarmed runners and the orphan guard. Idempotent. */
  async shutdown(): Promise<StopAllResult & { finished: number }> {
    this.#shutDown = true;
    const { pool, idleRunners, sampler } = this.#executor;
    this.#executor.shutDown = true;
    pool?.close();
    idleRunners.close();
    const result = await this.stopAll('shutdown');
    // Idle runners hold no task: they got SIGKILL above. Reaped before this resolves, so that nothing
    // of ours outlives it (and a parent's CPU accounting sees theirs); bounded all the same.
    await Promise.all([pool?.reaped(RUNNERS_REAPED_MAX_MS), idleRunners.reaped(RUNNERS_REAPED_MAX_MS)]);
    // Their cgroups too, before the orphan guard (which would remove what is left) is closed.
    await cgroupsRemoved();
    sampler.stop();
    this.#guard.close();
    process.off('exit', this.#onProcessExit);
    return result;
  }

  // ---- the owner interface the Task handles see -------------------------------------------

  readonly #taskOwner = {
    snapshot: (id: string) => snapshotOf(this.#record(id)),
    donePromise: (id: string) => this.#record(id).done.promise,
    cancel: (id: string) => this.cancel(id),
    kill: (id: string) => this.kill(id),
    restart: (id: string) => this.restart(id),
    pause: (id: string) => this.pause(id),
    resume: (id: string) => this.resume(id),
  };

  #record(id: string): TaskRecord {
    const record = this.#executor.tasks.get(id);
    if (!record)
      throw withCode(
        'UNKNOWN_TASK',
        new Error(`unknown task id ${JSON.stringify(id)}: see list() for the tasks this supervisor knows`),
      );
    return record;
  }

  #emitEvent(event: SupervisorEvent): void {
    // A throwing listener must not break the supervisor's bookkeeping.
    try {
      this.emit('event', event);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** The containment asked for, as this machine allows it; 'cgroup' where none can be made is an error that says why. */
function chooseContainment(asked: 'auto' | 'cgroup' | 'process-group'): ContainmentSupport {
  if (asked === 'process-group') return processGroupSupport(["containment 'process-group' was asked for"]);
  const support = asked === 'auto' ? automaticContainment() : containmentSupport();
  if (asked === 'cgroup' && support.backend !== 'cgroup') {
    throw new Error(`containment 'cgroup' is not available here: ${support.limits.join('; ')}`);
  }
  return support;
}

function memoryLimitUnavailable(containment: ContainmentSupport): string {
  if (containment.backend !== 'cgroup')
    return `there is no task cgroup on this machine (${containment.limits.join('; ')})`;
  const why = containment.limits.find((line) => line.startsWith('memory:'));
  return `no cgroup memory controller is available to taskwarden here${why ? ` (${why})` : ''}`;
}

function notPausable(record: TaskRecord, done: 'paused' | 'resumed'): Error {
  const state = record.machine.state;
  const message =
    done === 'paused'
      ? `task ${record.id} is ${state}: only a running task can be paused`
      : `task ${record.id} is ${state}, not paused: nothing to resume`;
  return withCode('NOT_PAUSABLE', new Error(message));
}
