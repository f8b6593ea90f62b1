/**
 * The Supervisor runs every task in its own process group and executes the
 * actions of the pure state machine (state-machine.ts) against real processes.
 * Everything that touches the OS lives in src/process; everything that decides
 * lives in the machine. This file wires the two and keeps the bookkeeping.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { isGroupEmpty, newGroupMembers, signalGroup } from '../process/group.js';
import { isSameLiveProcess, lastPid, readProcStat } from '../process/proc.js';
import {
  automaticContainment,
  cgroupPriorityMechanism,
  containmentSupport,
  processGroupSupport,
  type ContainmentSupport,
} from '../process/cgroup/support.js';
import { sweepLeftovers, TaskCgroups } from '../process/cgroup/owner.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';
import {
  cpuPriority,
  lowerPriority,
  priorityMechanism,
  restorePriority,
  restorePriorityInBackground,
  type CpuPriority,
} from '../process/priority.js';
import { LineSplitter } from '../process/lines.js';
import { LineageMark } from '../process/lineage.js';
import { OrphanGuard } from '../process/orphan-guard.js';
import { resolveCommand, spawnCommand, spawnRunner } from '../process/spawn.js';
import type { FromRunner, ToRunner } from '../common/runner-ipc.js';
import { taskError, toTaskError, withCode } from '../common/task-errors.js';
import { TASK_ID_RULE, isTaskId } from '../common/task-id.js';
import { formatBytes } from '../common/bytes.js';
import { resolveOptions, reuseLimit, validateSpec, type ResolvedOptions, type SupervisorOptions } from './options.js';
import { RunnerPool } from './runner-pool.js';
import { IdleRunners, removeCgroupWhenEmpty, type ReusableRunner } from './idle-runners.js';
import {
  holdsSlot,
  initialState,
  transition,
  type MachineAction,
  type MachineEvent,
  type MachineState,
} from './state-machine.js';
import { Task } from './task.js';
import { UsageSampler, type SampleTarget } from './usage-sampler.js';
import { RestartIntensity } from './restart-intensity.js';
import { parseCommandProgress } from './command-progress.js';
import type {
  LogLine,
  Progress,
  ResourceUsage,
  StallInfo,
  StopAllResult,
  StopReason,
  SupervisorEvent,
  TaskOutcome,
  TaskSnapshot,
  TaskSpec,
  TaskState,
} from './types.js';
import { isTerminalState } from './types.js';

/** Everything the supervisor knows about one task. Private to this module. */
interface TaskRecord {
  readonly id: string;
  readonly name: string;
  readonly spec: TaskSpec;
  readonly kind: 'module' | 'command';
  readonly cpu: CpuPriority;
  readonly handle: Task;
  readonly createdAt: number;
  readonly restarts: RestartIntensity;
  /** Bytes, or undefined for no limit. */
  readonly memoryMax: number | undefined;
  /** Most tasks one runner may serve (spec.reuse); 1 without reuse. */
  readonly reuseLimit: number;
  machine: MachineState;
  child?: ChildProcess;
  pid?: number;
  /** The attempt's cgroup (cgroup containment): made before its spawn, removed once it is empty. */
  cgroup?: TaskCgroup;
  /** Descendants that left the group (setsid), by pid -> start time. */
  escapees: Map<number, number>;
  /** The reusable runner serving this attempt (spec.reuse), and what its release waits for. */
  runner?: ReusableRunner;
  release?: RunnerRelease;
  /** The last pid handed out when a reusable run was sent: what the task starts is younger. */
  runFloorPid?: number;
  /** Takes the attempt's listeners off its process (a reused runner outlives the attempt). */
  unwire?: () => void;
  /** The strongest signal this attempt was sent: lineage strays found later get the same. */
  lastSignal?: 'SIGTERM' | 'SIGKILL';
  startedAt?: number;
  endedAt?: number;
  progress?: Progress;
  lastActivityAt: number;
  stall?: StallInfo;
  usage?: ResourceUsage;
  timers: {
    grace?: NodeJS.Timeout;
    timeout?: NodeJS.Timeout;
    groupPoll?: NodeJS.Timeout;
    spawnDelay?: NodeJS.Timeout;
    progress?: NodeJS.Timeout;
    priority?: NodeJS.Timeout;
    release?: NodeJS.Timeout;
  };
  progressEmittedAt: number;
  progressPending: boolean;
  done: { promise: Promise<TaskOutcome>; resolve: (outcome: TaskOutcome) => void };
}

/**
 * A reusable run ends when three things have arrived: the runner's result saying it stays idle,
 * and the end marker on stdout and on stderr. Only then is every line of the task's output read,
 * so none of it can be taken for the next task's.
 */
interface RunnerRelease {
  readonly endMarker: string;
  stdout: boolean;
  stderr: boolean;
  rssBytes?: number;
}

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

/** Longest a stop keeps prewarmed runners from booting. Kills take milliseconds, cooperative cancels tens. */
const BOOT_PAUSE_MAX_MS = 250;

const CPU_COUNT = Math.max(1, availableParallelism());

/** How long a stopping task keeps its normal priority (a cleanup or an exit takes milliseconds). */
const PRIORITY_WINDOW_MS = 200;

/** How long the exit of a task process waits for more of its stdout/stderr (a descendant may hold them open). */
const STDIO_DRAIN_MS = 100;
/** ... and at most this long in all. */
const STDIO_DRAIN_MAX_MS = 1000;
/** Longest shutdown() waits for ended idle runners to be reaped (SIGKILL takes milliseconds). */
const RUNNERS_REAPED_MAX_MS = 2000;
/** How long a reusable runner's end markers may lag behind its result (a loaded machine). */
const RELEASE_WAIT_MS = 5000;

const isStopping = (state: TaskState) => state === 'cancelling' || state === 'killing';

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: ResolvedOptions;
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #queue: TaskRecord[] = [];
  readonly #mark: LineageMark;
  readonly #containment: ContainmentSupport;
  /** Makes the task cgroups; undefined with process-group containment. */
  readonly #cgroups: TaskCgroups | undefined;
  readonly #guard: OrphanGuard;
  readonly #pool: RunnerPool | undefined;
  readonly #idleRunners: IdleRunners;
  readonly #sampler: UsageSampler;
  readonly #pendingEvents: Array<[TaskRecord, MachineEvent]> = [];
  readonly #onProcessExit = () => this.#killEverythingNow();
  #dispatching = false;
  #pumpScheduled = false;
  /** Admissions decided but not yet applied (events queue while another is being processed). */
  #admitting = 0;
  #active = 0;
  /** Tasks in cancelling or killing: while there are any, prewarming waits (see RunnerPool.pauseBoots). */
  #stopping = 0;
  #bootPauseTimer: NodeJS.Timeout | undefined;
  #shutDown = false;

  constructor(options: SupervisorOptions = {}) {
    super();
    this.#options = resolveOptions(options);
    const token = options.lineageToken ?? randomBytes(8).toString('hex');
    this.#mark = new LineageMark(token);
    this.#containment = chooseContainment(this.#options.containment);
    const layout = this.#containment.layout;
    this.#cgroups = layout ? new TaskCgroups(layout, token) : undefined;
    if (layout) {
      // What owners that died with their guard left behind (rare: both killed at once). After this
      // turn: a daemon's recovery, right after construction, first records which tasks it kills.
      setImmediate(() => void sweepLeftovers(layout).catch(() => {}));
    }
    this.#guard = new OrphanGuard(
      this.#mark,
      this.#cgroups && { prefix: this.#cgroups.prefix, parents: this.#cgroups.parents },
    );
    this.#pool =
      this.#options.prewarm > 0
        ? new RunnerPool({
            size: this.#options.prewarm,
            priority: this.#options.cpu,
            guard: this.#guard,
            mark: this.#mark,
            preload: this.#options.preload,
            cgroups: this.#cgroups,
          })
        : undefined;
    this.#idleRunners = new IdleRunners({
      max: this.#options.concurrency,
      idleMs: this.#options.runnerIdleMs,
      guard: this.#guard,
    });
    this.#sampler = new UsageSampler({
      intervalMs: Math.min(this.#options.sampleIntervalMs, Math.max(25, this.#options.stallAfterMs / 4)),
      targets: () => this.#runningRecords(),
      onSample: (id, usage, escaped) => this.#onUsage(id, usage, escaped),
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
    if (!isTaskId(id) || this.#tasks.has(id)) {
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
      machine: initialState(kind, attempt),
      escapees: new Map(),
      lastActivityAt: Date.now(),
      timers: {},
      progressEmittedAt: 0,
      progressPending: false,
      done: deferred(),
    };
    this.#tasks.set(id, record);
    this.#queue.push(record);
    this.#emitEvent({ type: 'created', task: this.#snapshot(record) });
    // Admission waits a microtask, so a caller can attach listeners and see 'starting' and 'running'.
    this.#schedulePump();
    return record.handle;
  }

  /**
   * Resolves once the prewarmed runners are booted and have preloaded their
   * modules, so the next start() takes the fast path. Immediate with prewarm 0.
   */
  warm(): Promise<void> {
    return this.#pool?.warm() ?? Promise.resolve();
  }

  get(id: string): Task | undefined {
    return this.#tasks.get(id)?.handle;
  }

  list(): TaskSnapshot[] {
    return [...this.#tasks.values()].map((r) => this.#snapshot(r));
  }

  cancel(id: string): void {
    this.#dispatch(this.#record(id), { type: 'cancel', reason: 'cancel', at: Date.now() });
  }

  kill(id: string): void {
    this.#dispatch(this.#record(id), { type: 'kill', reason: 'kill', at: Date.now() });
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
    this.#dispatch(record, { type: 'pause', at: Date.now() });
  }

  /** Thaws a paused task; nothing for a running one. Throws for a task in any other state. */
  resume(id: string): void {
    const record = this.#record(id);
    if (record.machine.state === 'running') return;
    if (record.machine.state !== 'paused') throw notPausable(record, 'resumed');
    this.#dispatch(record, { type: 'resume', at: Date.now() });
  }

  restart(id: string): void {
    if (this.#shutDown) throw new Error(`cannot restart task ${id}: this Supervisor is shut down`);
    this.#dispatch(this.#record(id), { type: 'restart', reason: 'restart', at: Date.now() });
  }

  /** Forgets finished tasks (they stay listed until then). Returns how many were removed. */
  clearFinished(): number {
    let removed = 0;
    for (const [id, record] of this.#tasks) {
      if (isTerminalState(record.machine.state)) {
        this.#tasks.delete(id);
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
    for (const record of [...this.#tasks.values()]) {
      if (isTerminalState(record.machine.state)) continue;
      if (record.machine.state === 'queued') notStarted += 1;
      else waiting.push(record.done.promise);
      this.#dispatch(record, { type: 'cancel', reason, at });
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
    this.#pool?.close();
    this.#idleRunners.close();
    const result = await this.stopAll('shutdown');
    // Idle runners hold no task: they got SIGKILL above. Reaped before this resolves, so that nothing
    // of ours outlives it (and a parent's CPU accounting sees theirs); bounded all the same.
    await Promise.all([this.#pool?.reaped(RUNNERS_REAPED_MAX_MS), this.#idleRunners.reaped(RUNNERS_REAPED_MAX_MS)]);
    this.#sampler.stop();
    this.#guard.close();
    process.off('exit', this.#onProcessExit);
    return result;
  }

  // ---- the owner interface the Task handles see -------------------------------------------

  readonly #taskOwner = {
    snapshot: (id: string) => this.#snapshot(this.#record(id)),
    donePromise: (id: string) => this.#record(id).done.promise,
    cancel: (id: string) => this.cancel(id),
    kill: (id: string) => this.kill(id),
    restart: (id: string) => this.restart(id),
    pause: (id: string) => this.pause(id),
    resume: (id: string) => this.resume(id),
  };

  #record(id: string): TaskRecord {
    const record = this.#tasks.get(id);
    if (!record)
      throw withCode(
        'UNKNOWN_TASK',
        new Error(`unknown task id ${JSON.stringify(id)}: see list() for the tasks this supervisor knows`),
      );
    return record;
  }

  // ---- state machine plumbing ---------------------------------------------------------------

  /** Events are processed one at a time, in order, even when an action raises a new one. */
  #dispatch(record: TaskRecord, event: MachineEvent): void {
    this.#pendingEvents.push([record, event]);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let next = this.#pendingEvents.shift(); next; next = this.#pendingEvents.shift()) {
        this.#apply(next[0], next[1]);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #apply(record: TaskRecord, event: MachineEvent): void {
    const previous = record.machine;
    if (event.type === 'admit') this.#admitting -= 1;
    const { next, actions } = transition(previous, event);
    record.machine = next;
    if (holdsSlot(next.state) && !holdsSlot(previous.state)) this.#active += 1;
    const changed = next.state !== previous.state || next.attempt !== previous.attempt;
    // A new attempt has no pid, progress, usage, stall or start of its own yet: none is carried over
    // into its snapshots (the journal records what they say).
    if (next.attempt !== previous.attempt) this.#forgetAttempt(record);
    if (changed && next.state === 'running' && previous.state !== 'paused') record.startedAt = Date.now();
    // Before the actions: the booting runners are frozen before the stopping task is signalled.
    const stoppingDelta = Number(isStopping(next.state)) - Number(isStopping(previous.state));
    if (stoppingDelta !== 0) this.#onStoppingChanged(stoppingDelta);
    // Signal first: the actions (a signal, an escalation timer) run before any listener hears of
    // the change, so a slow listener (the daemon's journal write and broadcast) never delays a stop.
    // Events raised by the actions queue behind this one (#dispatch), so listeners still see order.
    for (const action of actions) this.#execute(record, action);
    if (event.type === 'spawned') this.#emitSpawned(record, event.at);
    if (changed) {
      if (isTerminalState(next.state)) this.#flushProgress(record);
      this.#emitState(record, previous);
    }
  }

  /** The count moves by one at a time: a pause begins when the first task starts stopping and ends with the last. */
  #onStoppingChanged(delta: number): void {
    this.#stopping += delta;
    if (!this.#pool) return;
    if (this.#stopping === 0) {
      clearTimeout(this.#bootPauseTimer);
      this.#pool.resumeBoots();
    } else if (delta > 0 && this.#stopping === 1) {
      this.#pool.pauseBoots();
      // Bounded: a cleanup that takes its whole grace period must not leave the pool cold.
      this.#bootPauseTimer = setTimeout(() => this.#pool?.resumeBoots(), BOOT_PAUSE_MAX_MS).unref();
    }
  }

  #execute(record: TaskRecord, action: MachineAction): void {
    switch (action.type) {
      case 'spawn':
        if (action.delayMs > 0) record.timers.spawnDelay = setTimeout(() => this.#spawn(record), action.delayMs);
        else this.#spawn(record);
        return;
      case 'abort':
        // After the current synchronous work: stopAll signals every group first, then writes the
        // aborts (each write wakes a runner that would otherwise preempt the loop of signals).
        queueMicrotask(() => this.#sendToRunner(record, { t: 'abort', reason: action.reason }));
        return;
      case 'restore-priority': {
        const pid = record.pid;
        if (pid === undefined || record.cpu.nice === 0) return;
        if (record.cgroup?.hasCpuControl) return this.#restoreCgroupPriority(record, record.cgroup);
        // Right after the signal, before any listener hears of the stop: a dying task at idle
        // priority must be scheduled to exit, and a slow listener must not hold that up. With more
        // tasks stopping than CPUs the writes go to libuv's pool: each takes the kernel's autogroup
        // lock, and many in a row would block this event loop while it has their exits to handle.
        if (this.#stopping <= CPU_COUNT) restorePriority(pid);
        else restorePriorityInBackground(pid);
        // Bounded: a cleanup or an exit takes milliseconds; a task that ignores its cancel (a sync
        // loop) must not spend the grace period competing with this process at full priority.
        clearTimeout(record.timers.priority);
        record.timers.priority = setTimeout(() => {
          if (record.pid === pid && isStopping(record.machine.state)) lowerPriority(pid, record.cpu.nice);
        }, PRIORITY_WINDOW_MS);
        return;
      }
      case 'signal':
        this.#signal(record, action.signal);
        return;
      case 'freeze':
        this.#freeze(record, true);
        return;
      case 'thaw':
        this.#freeze(record, false);
        // Silence while frozen was not the task's doing: the watchdog counts from now.
        record.lastActivityAt = Date.now();
        record.stall = undefined;
        return;
      case 'arm-grace':
        clearTimeout(record.timers.grace);
        record.timers.grace = setTimeout(
          () => this.#dispatch(record, { type: 'grace-expired', at: Date.now() }),
          record.spec.graceMs ?? this.#options.graceMs,
        );
        return;
      case 'disarm-grace':
        clearTimeout(record.timers.grace);
        record.timers.grace = undefined;
        return;
      case 'watch-group':
        this.#watchGroup(record);
        return;
      case 'keep-runner':
        this.#parkRunner(record);
        return;
      case 'retire-runner':
        this.#retireRunner(record);
        return;
      case 'release-slot':
        this.#active -= 1;
        this.#pump();
        return;
      case 'enqueue':
        record.done = deferred();
        this.#queue.push(record);
        this.#pump();
        return;
      case 'settle':
        this.#settle(record, action.outcome);
        return;
    }
  }

  /** The cgroup's normal share for the priority window: one write, every process of the task at once. */
  #restoreCgroupPriority(record: TaskRecord, cgroup: TaskCgroup): void {
    cgroup.setCpu(NORMAL_CPU);
    clearTimeout(record.timers.priority);
    record.timers.priority = setTimeout(() => {
      if (record.cgroup === cgroup && isStopping(record.machine.state)) cgroup.setCpu(record.cpu);
    }, PRIORITY_WINDOW_MS);
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#active + this.#admitting < this.#options.concurrency && this.#queue.length > 0) {
      const record = this.#queue.shift()!;
      if (record.machine.state !== 'queued') continue; // cancelled while waiting
      this.#admitting += 1;
      this.#dispatch(record, { type: 'admit', at: Date.now() });
    }
    this.#pool?.setDemand(this.#runnersNeededNext());
  }

  /**
   * Runners the next `concurrency` queued tasks will take from the pool: one for each module task
   * that can use a prewarmed runner, less those a reusable kind will find already serving it. So
   * a queued batch has its processes started while the tasks before it run, not when it is its turn.
   */
  #runnersNeededNext(): number {
    let needed = 0;
    let reusable = 0;
    let seen = 0;
    for (const record of this.#queue) {
      if (seen++ >= this.#options.concurrency) break;
      if (record.machine.state !== 'queued' || !this.#canUsePool(record)) continue;
      if (record.reuseLimit > 1) reusable += 1;
      else needed += 1;
    }
    if (reusable === 0) return needed;
    let serving = this.#idleRunners.size;
    for (const record of this.#tasks.values()) if (record.runner) serving += 1;
    return needed + Math.max(0, reusable - serving);
  }

  /** A prewarmed runner has our env and priority: only a module task that wants both can take one. */
  #canUsePool(record: TaskRecord): boolean {
    if (record.kind !== 'module' || (record.spec as { env?: unknown }).env !== undefined) return false;
    return record.cpu.nice === this.#options.cpu.nice && record.cpu.schedIdle === this.#options.cpu.schedIdle;
  }

  // ---- processes ----------------------------------------------------------------------------

  #spawn(record: TaskRecord): void {
    record.timers.spawnDelay = undefined;
    if (record.machine.state !== 'starting') return;
    this.#resetAttempt(record);
    let child: ChildProcess | undefined;
    try {
      child = record.kind === 'module' ? this.#spawnModule(record) : this.#spawnCommand(record);
    } catch (error) {
      this.#releaseCgroup(record);
      // Contained to this task: a throw here would otherwise escape the queue pump and end the owner.
      const cause = toTaskError(error);
      const message = `task ${record.id} could not be started: ${cause.message}`;
      this.#dispatch(record, {
        type: 'spawn-failed',
        error: { ...cause, code: cause.code ?? 'SPAWN_FAILED', message },
        at: Date.now(),
      });
      return;
    }
    if (!child) return this.#releaseCgroup(record);
    if (child.pid === undefined) {
      this.#releaseCgroup(record);
      child.once('error', (error) =>
        this.#dispatch(record, { type: 'spawn-failed', error: toTaskError(error, 'SPAWN_FAILED'), at: Date.now() }),
      );
      return;
    }
    record.child = child;
    record.pid = child.pid;
    this.#guard.register(child.pid);
    this.#wireChild(record, child);
    if (record.spec.timeoutMs !== undefined) {
      record.timers.timeout = setTimeout(
        () => this.#dispatch(record, { type: 'cancel', reason: 'timeout', at: Date.now() }),
        record.spec.timeoutMs,
      );
    }
    this.#dispatch(record, { type: 'spawned', at: Date.now() });
  }

  #spawnModule(record: TaskRecord): ChildProcess {
    const spec = record.spec as Extract<TaskSpec, { module: string }>;
    const cwd = spec.cwd ?? process.cwd();
    const module = resolve(cwd, spec.module);
    const mark = this.#markOf(record);
    const key = record.reuseLimit > 1 ? runnerKey(module, cwd, spec.env, record) : undefined;
    const reused = key !== undefined ? this.#idleRunners.take(key) : undefined;
    let child: ChildProcess;
    if (reused) {
      child = reused.child;
      record.cgroup = reused.cgroup;
      reused.served += 1;
      record.runner = reused;
    } else {
      child = this.#newRunner(record, spec, cwd, mark);
      if (key !== undefined && child.pid !== undefined)
        record.runner = { child, pid: child.pid, cgroup: record.cgroup, key, served: 1 };
    }
    if (record.runner) {
      record.release = { endMarker: `taskwarden-end-${randomBytes(12).toString('hex')}`, stdout: false, stderr: false };
      if (!record.cgroup) record.runFloorPid = lastPid();
    }
    const reuse = record.release ? { reuse: { endMarker: record.release.endMarker } } : {};
    try {
      child.send({
        t: 'run',
        module,
        input: spec.input,
        taskId: record.id,
        attempt: record.machine.attempt,
        cwd,
        mark,
        ...reuse,
      } satisfies ToRunner);
    } catch (error) {
      // The IPC serializer refuses what structuredClone took (a SharedArrayBuffer, say): the runner is ours to end.
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      throw withCode(
        'INPUT_NOT_SENDABLE',
        new Error(`its input cannot be sent to the task process (${(error as Error).message}); pass plain data`),
      );
    }
    return child;
  }

  /** A prewarmed runner where the task can use one, else a new one. */
  #newRunner(
    record: TaskRecord,
    spec: Extract<TaskSpec, { module: string }>,
    cwd: string,
    mark: [string, string],
  ): ChildProcess {
    const pooled = this.#canUsePool(record) ? this.#pool?.take() : undefined;
    if (!pooled) {
      record.cgroup = this.#newCgroup(record);
      return spawnRunner({
        priority: record.cpu,
        env: spec.env,
        cwd,
        mark,
        ...(record.cgroup ? { cgroup: record.cgroup } : {}),
      });
    }
    record.cgroup = pooled.cgroup;
    if (record.cgroup && record.memoryMax !== undefined) record.cgroup.setMemoryMax(record.memoryMax);
    pooled.child.ref();
    (pooled.child.channel as { ref?: () => void } | undefined)?.ref?.();
    return pooled.child;
  }

  #spawnCommand(record: TaskRecord): ChildProcess | undefined {
    const spec = record.spec as Extract<TaskSpec, { command: string }>;
    const env = spec.env ?? (process.env as Record<string, string>);
    const cwd = spec.cwd ?? process.cwd();
    const file = resolveCommand(spec.command, env, cwd);
    if (!file) {
      const error = taskError(
        'COMMAND_NOT_FOUND',
        `command not found: ${spec.command} (task ${record.id}): check the name and PATH`,
      );
      this.#dispatch(record, { type: 'spawn-failed', error, at: Date.now() });
      return undefined;
    }
    record.cgroup = this.#newCgroup(record);
    const cgroup = record.cgroup ? { cgroup: record.cgroup } : {};
    return spawnCommand({
      command: file,
      args: spec.args ?? [],
      priority: record.cpu,
      env,
      cwd,
      mark: this.#markOf(record),
      ...cgroup,
    });
  }

  /** The attempt's own cgroup, its CPU share and memory limit set, before anything is spawned into it. */
  #newCgroup(record: TaskRecord): TaskCgroup | undefined {
    if (!this.#cgroups) return undefined;
    const cgroup = this.#cgroups.create();
    try {
      cgroup.setCpu(record.cpu);
      if (record.memoryMax !== undefined) cgroup.setMemoryMax(record.memoryMax);
    } catch (error) {
      cgroup.remove();
      throw error;
    }
    return cgroup;
  }

  /** Removes the attempt's cgroup once nothing is inside; retried briefly if the kernel still says busy. */
  #releaseCgroup(record: TaskRecord): void {
    const cgroup = record.cgroup;
    if (!cgroup) return;
    record.cgroup = undefined;
    removeCgroupWhenEmpty(cgroup);
  }

  #markOf(record: TaskRecord): [string, string] {
    return [this.#mark.name, LineageMark.valueOf(record.id, record.machine.attempt)];
  }

  #wireChild(record: TaskRecord, child: ChildProcess): void {
    const attempt = record.machine.attempt;
    const current = () => record.child === child;
    // 'exit' can come before the last output is read: the exit is reported once stdout and stderr
    // are drained (their last line may be the final progress), or after STDIO_DRAIN_MS when a
    // descendant still holds them open.
    const openStreams = new Set<string>();
    let exit: MachineEvent | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    // When the limit runs out, one more pass of the poll phase first: on a loaded machine a late
    // turn of the event loop runs expired timers before it reads the data already waiting.
    // Bounded: a descendant that keeps writing to the inherited streams must not hold up the exit.
    let exitSeenAt = 0;
    const armDrainTimer = () => {
      if (drainTimer && performance.now() - exitSeenAt > STDIO_DRAIN_MAX_MS) return;
      clearTimeout(drainTimer);
      drainTimer = setTimeout(() => setImmediate(reportExit), STDIO_DRAIN_MS);
    };
    const reportExit = () => {
      if (!exit) return;
      const event = exit;
      exit = undefined;
      clearTimeout(drainTimer);
      if (!current()) return;
      this.#checkOom(record);
      this.#dispatch(record, event);
    };
    // A reused runner outlives the attempt: every listener added here is taken off again (unwire).
    // Node's own listener type (EventEmitter.on takes (...args: any[]) => void).
    type Listener = Parameters<NodeJS.EventEmitter['on']>[1];
    const listeners: Array<[NodeJS.EventEmitter, string, Listener]> = [];
    const listen = (emitter: NodeJS.EventEmitter, event: string, listener: Listener) => {
      emitter.on(event, listener);
      listeners.push([emitter, event, listener]);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const readable = child[stream];
      if (!readable || readable.closed) continue; // a runner that died while idle: nothing left to read
      openStreams.add(stream);
      const splitter = new LineSplitter((line) => {
        if (current()) this.#onRunnerLine(record, attempt, stream, line);
      });
      listen(readable, 'data', (chunk: Buffer) => {
        splitter.push(chunk);
        if (exit) armDrainTimer(); // still reading what the task wrote: the limit counts from the last data
      });
      listen(readable, 'end', () => splitter.end());
      listen(readable, 'close', () => {
        openStreams.delete(stream);
        if (openStreams.size === 0) reportExit();
      });
      (readable as unknown as { ref?: () => void }).ref?.();
    }
    listen(child, 'message', (message: FromRunner) => {
      if (current()) this.#onRunnerMessage(record, message);
    });
    listen(child, 'error', () => {
      // Spawn errors are handled in #spawn; IPC send errors surface as a missing report.
    });
    listen(child, 'exit', (code: number | null, signal: NodeJS.Signals | null) => {
      exit = { type: 'exited', code, signal, at: Date.now() };
      exitSeenAt = performance.now();
      if (openStreams.size === 0) return reportExit();
      armDrainTimer();
    });
    record.unwire = () => {
      clearTimeout(drainTimer);
      for (const [emitter, event, listener] of listeners) emitter.off(event, listener);
    };
  }

  /** A line of a runner's output: the task's, up to its end marker (a reusable run); nothing after it is. */
  #onRunnerLine(record: TaskRecord, attempt: number, stream: 'stdout' | 'stderr', line: string): void {
    const release = record.release;
    if (!release) return this.#onOutputLine(record, attempt, stream, line);
    if (release[stream]) return;
    if (!line.endsWith(release.endMarker)) return this.#onOutputLine(record, attempt, stream, line);
    // The task's last write may have had no newline: what precedes the marker is its last line.
    const last = line.slice(0, -release.endMarker.length);
    if (last.length > 0) this.#onOutputLine(record, attempt, stream, last);
    release[stream] = true;
    this.#maybeRelease(record);
  }

  #onRunnerMessage(record: TaskRecord, message: FromRunner): void {
    const at = Date.now();
    switch (message.t) {
      case 'started':
        record.lastActivityAt = at;
        this.#dispatch(record, { type: 'started', at });
        return;
      case 'progress':
        this.#onProgress(record, {
          fraction: message.fraction,
          ...(message.message !== undefined ? { message: message.message } : {}),
        });
        return;
      case 'heartbeat':
        this.#onActivity(record);
        return;
      case 'result':
        this.#dispatch(record, { type: 'report', report: { kind: 'result', value: message.value }, at });
        if (message.idle) this.#onRunnerIdle(record, message.idle.rssBytes);
        return;
      case 'error':
        this.#dispatch(record, { type: 'report', report: { kind: 'error', error: message.error }, at });
        return;
      case 'cancelled':
        this.#dispatch(record, { type: 'report', report: { kind: 'cancelled', error: message.error }, at });
        return;
      case 'not-reusable':
        this.#onOutputLine(record, record.machine.attempt, 'stderr', notReusedLine(record, message.why));
        return;
      default:
        return;
    }
  }

  #onOutputLine(record: TaskRecord, attempt: number, stream: 'stdout' | 'stderr', line: string): void {
    if (record.kind === 'command' && stream === 'stdout' && attempt === record.machine.attempt) {
      const parsed = parseCommandProgress(line);
      if (parsed === 'heartbeat') return this.#onActivity(record);
      if (parsed) return this.#onProgress(record, parsed);
    }
    const log: LogLine = { taskId: record.id, attempt, stream, line, at: Date.now() };
    record.handle.emit('log', log);
    this.#emitEvent({ type: 'log', log });
  }

  /** A reusable run's runner stays for another task: it wrote its end markers before this result. */
  #onRunnerIdle(record: TaskRecord, rssBytes: number): void {
    if (!record.release) return;
    record.release.rssBytes = rssBytes;
    // The end markers were flushed before the result was sent: they are read in a moment, unless
    // something is badly wrong. Bounded: then the runner is not reused, and the exit path reads the rest.
    record.timers.release = setTimeout(() => this.#retireRunner(record), RELEASE_WAIT_MS);
    this.#maybeRelease(record);
  }

  /** Once a reusable run has ended (see RunnerRelease): the runner is released for the next task, or retired. */
  #maybeRelease(record: TaskRecord): void {
    const release = record.release;
    if (!release || release.rssBytes === undefined || !release.stdout || !release.stderr) return;
    clearTimeout(record.timers.release);
    record.timers.release = undefined;
    const why = this.#whyNotReusable(record, release.rssBytes);
    if (why === undefined) return this.#dispatch(record, { type: 'released', at: Date.now() });
    if (why) this.#onOutputLine(record, record.machine.attempt, 'stderr', notReusedLine(record, why));
    this.#retireRunner(record);
  }

  /**
   * Why this runner may not serve another task ('' when there is nothing to tell the user), or
   * undefined when it may. Its own checks (leftover handles) were the runner's; these are what only
   * the supervisor can see: other processes in its cgroup or group, memory, the count, OOM kills.
   */
  #whyNotReusable(record: TaskRecord, rssBytes: number): string | undefined {
    const runner = record.runner;
    if (!runner || this.#shutDown || runner.served >= record.reuseLimit || record.machine.state !== 'running')
      return '';
    if (rssBytes > this.#options.runnerMaxRssBytes) {
      return `the runner's memory (RSS ${formatBytes(rssBytes)}) is over runnerMaxRssBytes (${formatBytes(this.#options.runnerMaxRssBytes)})`;
    }
    const others = this.#otherProcesses(record, runner);
    if (others > 0) return `the task left ${others} process${others > 1 ? 'es' : ''} running`;
    if (runner.cgroup && runner.cgroup.oomKills() > 0) return "the kernel's OOM killer ended a process of it";
    return undefined;
  }

  /**
   * Processes of the attempt other than its runner: in its cgroup; with process groups, in its
   * group or marked with its lineage, born since the run began (read from there on: a reused
   * runner is old, and reading every process since its birth would cost more with each task).
   */
  #otherProcesses(record: TaskRecord, runner: ReusableRunner): number {
    if (runner.cgroup) return runner.cgroup.pids().filter((pid) => pid !== runner.pid).length;
    const floor = record.runFloorPid ?? runner.pid;
    const members = new Set(newGroupMembers(runner.pid, floor));
    for (const [pid, startTime] of record.escapees) if (isSameLiveProcess(pid, startTime)) members.add(pid);
    for (const { pid } of this.#mark.find(LineageMark.valueOf(record.id, record.machine.attempt), floor))
      members.add(pid);
    members.delete(runner.pid);
    return members.size;
  }

  /** The runner keeps its process for the next task of its kind: this attempt lets go of it. */
  #parkRunner(record: TaskRecord): void {
    const runner = record.runner;
    this.#detachRunner(record);
    if (runner) this.#idleRunners.park(runner);
  }

  /** Not reused after all: the runner exits as a one-task runner does, and the exit ends the attempt. */
  #retireRunner(record: TaskRecord): void {
    clearTimeout(record.timers.release);
    record.timers.release = undefined;
    record.runner = undefined;
    this.#sendToRunner(record, { t: 'exit' });
  }

  #detachRunner(record: TaskRecord): void {
    clearTimeout(record.timers.release);
    record.timers.release = undefined;
    record.unwire?.();
    record.unwire = undefined;
    record.runner = undefined;
    record.release = undefined;
    record.child = undefined;
    record.pid = undefined;
    record.cgroup = undefined;
  }

  #sendToRunner(record: TaskRecord, message: ToRunner): void {
    const child = record.child;
    if (!child?.connected) return;
    try {
      child.send(message, () => {
        // An error here means the runner is gone already; the group signal is what stops it anyway.
      });
    } catch {
      // Channel closed between the check and the send.
    }
  }

  #signal(record: TaskRecord, signal: 'SIGTERM' | 'SIGKILL'): void {
    if (record.pid === undefined) return;
    if (record.cgroup) return this.#signalCgroup(record, record.cgroup, record.pid, signal);
    signalGroup(record.pid, signal);
    // What left the group since the last sample (a child forked from a SIGTERM handler, say) is
    // found by its lineage mark once the group is gone (#attemptProcessesGone) and sent this too.
    if (record.lastSignal !== 'SIGKILL') record.lastSignal = signal;
    for (const [pid, startTime] of record.escapees) {
      // Never signal a reused pid: check the start time first.
      if (!isSameLiveProcess(pid, startTime)) {
        record.escapees.delete(pid);
        continue;
      }
      try {
        process.kill(pid, signal);
      } catch {
        record.escapees.delete(pid);
      }
    }
  }

  /**
   * SIGKILL: cgroup.kill, atomic for everything inside. SIGTERM: the group, then whatever inside
   * has left it (setsid, setpgid), read from cgroup.procs; each process gets it once.
   */
  #signalCgroup(record: TaskRecord, cgroup: TaskCgroup, pgid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
    if (record.lastSignal !== 'SIGKILL') record.lastSignal = signal;
    // The group too, whatever the cgroup says: a process between spawn and entering its cgroup is
    // in the group only (spawn.ts moves it in at once, this is the second line).
    if (signal === 'SIGKILL') cgroup.kill();
    signalGroup(pgid, signal);
    if (signal === 'SIGKILL') return;
    for (const pid of cgroup.pids()) {
      if (pid === pgid || readProcStat(pid)?.pgrp === pgid) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    }
  }

  /** cgroup.freeze where the task has a cgroup; else SIGSTOP/SIGCONT to its group and known escapees. */
  #freeze(record: TaskRecord, frozen: boolean): void {
    if (record.pid === undefined) return;
    if (record.cgroup?.setFrozen(frozen)) return;
    const signal = frozen ? 'SIGSTOP' : 'SIGCONT';
    signalGroup(record.pid, signal);
    for (const [pid, startTime] of record.escapees) {
      if (!isSameLiveProcess(pid, startTime)) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
  }

  /** Marked processes outside the group become escapees: waited for, and sent the signal the attempt already got. */
  #adoptStrays(record: TaskRecord, strays: ReadonlyArray<{ pid: number; startTime: number }>): void {
    for (const { pid, startTime } of strays) {
      if (record.escapees.get(pid) === startTime) continue;
      record.escapees.set(pid, startTime);
      if (!record.lastSignal) continue;
      try {
        process.kill(pid, record.lastSignal);
      } catch {
        // gone already
      }
    }
  }

  /** After the leader exits: poll until its group (and escaped descendants) are gone. */
  #watchGroup(record: TaskRecord): void {
    const pgid = record.pid;
    if (pgid === undefined) return this.#dispatch(record, { type: 'group-empty', at: Date.now() });
    let delay = 1;
    let reportedLingering = false;
    let stopWatching: (() => void) | undefined;
    const check = () => {
      clearTimeout(record.timers.groupPoll);
      record.timers.groupPoll = undefined;
      if (this.#attemptProcessesGone(record, pgid)) {
        stopWatching?.();
        this.#releaseCgroup(record);
        this.#dispatch(record, { type: 'group-empty', at: Date.now() });
        return;
      }
      // The cgroup says when it empties (cgroup.events); the poll stays as a safety net.
      if (record.cgroup && !stopWatching) stopWatching = record.cgroup.watchEmpty(check);
      if (!reportedLingering) {
        reportedLingering = true;
        this.#dispatch(record, { type: 'group-lingering', at: Date.now() });
      }
      // No OS event tells us a group emptied: poll, quickly at first.
      record.timers.groupPoll = setTimeout(check, delay);
      delay = Math.min(delay * 2, 25);
    };
    check();
  }

  #attemptProcessesGone(record: TaskRecord, pgid: number): boolean {
    // The kernel's own answer, escapees included.
    if (record.cgroup) return !record.cgroup.isPopulated();
    if (!isGroupEmpty(pgid)) return false;
    for (const [pid, startTime] of record.escapees) {
      if (isSameLiveProcess(pid, startTime)) return false;
      record.escapees.delete(pid);
    }
    // The group and every escapee seen are gone: is anything left that carries the attempt's mark
    // (it left the group and was orphaned between two samples)? Only younger pids are read.
    const strays = this.#mark.find(LineageMark.valueOf(record.id, record.machine.attempt), pgid);
    this.#adoptStrays(record, strays);
    return strays.length === 0;
  }

  #settle(record: TaskRecord, outcome: TaskOutcome): void {
    this.#clearTimers(record);
    this.#releaseCgroup(record);
    if (record.pid !== undefined) this.#guard.unregister(record.pid);
    record.child?.removeAllListeners('message');
    record.child = undefined;
    record.done.resolve(outcome); // endedAt was set when the terminal state was emitted
  }

  #forgetAttempt(record: TaskRecord): void {
    if (record.pid !== undefined) this.#guard.unregister(record.pid);
    record.pid = undefined;
    record.progress = undefined;
    record.progressPending = false;
    record.usage = undefined;
    record.stall = undefined;
    record.startedAt = undefined;
    record.endedAt = undefined;
    this.#sampler.forget(record.id);
  }

  /** Before a spawn: everything of the attempt's process, timers included, starts anew. */
  #resetAttempt(record: TaskRecord): void {
    this.#forgetAttempt(record);
    this.#clearTimers(record);
    record.unwire?.();
    record.unwire = undefined;
    record.runner = undefined;
    record.release = undefined;
    record.child = undefined;
    record.escapees.clear();
    record.lastSignal = undefined;
    record.lastActivityAt = Date.now();
  }

  #clearTimers(record: TaskRecord): void {
    for (const timer of Object.values(record.timers)) clearTimeout(timer);
    record.timers = {};
  }

  /** Runs in process 'exit': synchronous only. */
  #killEverythingNow(): void {
    for (const record of this.#tasks.values()) {
      if (record.pid === undefined || isTerminalState(record.machine.state)) continue;
      record.cgroup?.kill();
      for (const pid of [-record.pid, ...record.escapees.keys()]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone, or nothing more can be done while exiting: the guard sweeps the marks next.
        }
      }
    }
    this.#pool?.close();
    this.#idleRunners.close();
    this.#guard.close();
  }

  // ---- progress, activity, watchdog ---------------------------------------------------------

  #onActivity(record: TaskRecord): void {
    record.lastActivityAt = Date.now();
    record.stall = undefined;
  }

  #onProgress(record: TaskRecord, progress: Progress): void {
    if (isTerminalState(record.machine.state)) return;
    this.#onActivity(record);
    record.progress = progress;
    record.progressPending = true;
    const wait = record.progressEmittedAt + this.#options.progressIntervalMs - Date.now();
    if (wait <= 0) this.#flushProgress(record);
    else record.timers.progress ??= setTimeout(() => this.#flushProgress(record), wait);
  }

  /** Emits the latest progress if one is pending; the final value is never lost. */
  #flushProgress(record: TaskRecord): void {
    clearTimeout(record.timers.progress);
    record.timers.progress = undefined;
    if (!record.progressPending || !record.progress) return;
    record.progressPending = false;
    record.progressEmittedAt = Date.now();
    const progress = record.progress;
    record.handle.emit('progress', progress);
    this.#emitEvent({ type: 'progress', taskId: record.id, attempt: record.machine.attempt, progress });
  }

  #runningRecords(): SampleTarget[] {
    const result: SampleTarget[] = [];
    for (const record of this.#tasks.values()) {
      if (record.pid === undefined || !holdsSlot(record.machine.state)) continue;
      result.push({ id: record.id, pid: record.pid, ...(record.cgroup ? { cgroup: record.cgroup } : {}) });
    }
    return result;
  }

  #onUsage(id: string, usage: ResourceUsage, escaped: ReadonlyArray<{ pid: number; startTime: number }>): void {
    const record = this.#tasks.get(id);
    if (!record || !holdsSlot(record.machine.state)) return;
    record.usage = usage;
    for (const e of escaped) record.escapees.set(e.pid, e.startTime);
    this.#checkOom(record);
    record.handle.emit('usage', usage);
    this.#emitEvent({ type: 'usage', taskId: id, usage });
    this.#checkStall(record, usage);
  }

  /** The kernel's OOM killer ended a process of the task (seen in its cgroup's memory counters). */
  #checkOom(record: TaskRecord): void {
    const cgroup = record.cgroup;
    if (!cgroup || record.memoryMax === undefined || record.machine.oomError || cgroup.oomKills() === 0) return;
    const peak = cgroup.memory()?.peakBytes;
    const error = taskError(
      'OOM_KILLED',
      `task ${record.id} went over its memory limit of ${formatBytes(record.memoryMax)}` +
        `${peak !== undefined ? ` (peak ${formatBytes(peak)})` : ''} and the kernel's OOM killer ended it, every process of it; ` +
        'raise memoryMax (--memory) or make the task use less',
    );
    this.#dispatch(record, { type: 'oom-killed', error, at: Date.now() });
  }

  #checkStall(record: TaskRecord, usage: ResourceUsage): void {
    if (record.machine.state !== 'running' || !Number.isFinite(this.#options.stallAfterMs)) return;
    const silentForMs = Date.now() - record.lastActivityAt;
    if (silentForMs < this.#options.stallAfterMs) return;
    const firstReport = record.stall === undefined;
    // A waiting process uses ~0% CPU and sleeps; a computing one uses up to a core and is runnable, even
    // when contended cores (tasks run niced) give it little CPU. No window yet: say so rather than guess.
    const computing = usage.cpuPercent >= 20 || usage.runnable === true;
    const diagnosis = usage.windowMs === 0 && !usage.runnable ? 'unknown' : computing ? 'spinning' : 'blocked';
    record.stall = { taskId: record.id, silentForMs, diagnosis, cpuPercent: usage.cpuPercent };
    if (!firstReport) return;
    record.handle.emit('stall', record.stall);
    this.#emitEvent({ type: 'stall', taskId: record.id, stall: record.stall });
    this.#applyStallPolicy(record);
  }

  #applyStallPolicy(record: TaskRecord): void {
    const at = Date.now();
    switch (this.#options.onStall) {
      case 'warn':
        return;
      case 'cancel':
        return this.#dispatch(record, { type: 'cancel', reason: 'stall', at });
      case 'kill':
        return this.#dispatch(record, { type: 'kill', reason: 'stall', at });
      case 'restart': {
        const delayMs = record.restarts.next(at);
        if (delayMs === undefined) {
          const error = taskError(
            'RESTART_LIMIT',
            `task ${record.id} stalled again after ${this.#options.maxRestarts} restarts within ${this.#options.restartWindowMs} ms; killed instead of restarted`,
          );
          return this.#dispatch(record, { type: 'kill', reason: 'stall', error, at });
        }
        return this.#dispatch(record, { type: 'restart', reason: 'stall', delayMs, at });
      }
    }
  }

  // ---- snapshots and events -----------------------------------------------------------------

  #snapshot(record: TaskRecord): TaskSnapshot {
    const m = record.machine;
    return {
      id: record.id,
      name: record.name,
      kind: record.kind,
      spec: record.spec,
      state: m.state,
      attempt: m.attempt,
      createdAt: record.createdAt,
      ...(record.pid !== undefined && !isTerminalState(m.state) ? { pid: record.pid } : {}),
      ...(record.progress ? { progress: record.progress } : {}),
      ...(record.usage ? { usage: record.usage } : {}),
      ...(record.stall ? { stall: { ...record.stall, silentForMs: Date.now() - record.lastActivityAt } } : {}),
      ...(record.startedAt !== undefined ? { startedAt: record.startedAt } : {}),
      ...(record.endedAt !== undefined && isTerminalState(m.state) ? { endedAt: record.endedAt } : {}),
      ...(m.outcome && isTerminalState(m.state) ? { outcome: m.outcome } : {}),
      ...(m.stopReason ? { stopReason: m.stopReason } : {}),
    };
  }

  #emitState(record: TaskRecord, previous: MachineState): void {
    const machine = record.machine;
    if (isTerminalState(machine.state)) record.endedAt = Date.now();
    const snapshot = this.#snapshot(record);
    record.handle.emit('state', snapshot, previous.state);
    const ended = machine.attempt !== previous.attempt ? machine.endedAttempt : undefined;
    this.#emitEvent({
      type: 'state',
      task: snapshot,
      previous: previous.state,
      ...(ended ? { endedAttempt: ended } : {}),
    });
  }

  /** The attempt's process exists. Its start time is read only for a listener (the journal's recovery needs it). */
  #emitSpawned(record: TaskRecord, at: number): void {
    const pid = record.pid;
    if (pid === undefined || this.listenerCount('event') === 0) return;
    const startTime = readProcStat(pid)?.startTime ?? null;
    this.#emitEvent({ type: 'spawned', taskId: record.id, attempt: record.machine.attempt, pid, startTime, at });
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

const NORMAL_CPU = cpuPriority('normal');

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

/** The log line that says why a reusable task's runner was replaced. */
function notReusedLine(record: TaskRecord, why: string): string {
  return `taskwarden: task ${record.id}: ${why}: its runner is not reused`;
}

/** What is fixed in a runner process once it runs: tasks that agree on all of it may share one. */
function runnerKey(module: string, cwd: string, env: Record<string, string> | undefined, record: TaskRecord): string {
  return JSON.stringify([module, cwd, env ?? null, record.cpu.nice, record.cpu.schedIdle, record.memoryMax ?? null]);
}

function notPausable(record: TaskRecord, done: 'paused' | 'resumed'): Error {
  const state = record.machine.state;
  const message =
    done === 'paused'
      ? `task ${record.id} is ${state}: only a running task can be paused`
      : `task ${record.id} is ${state}, not paused: nothing to resume`;
  return withCode('NOT_PAUSABLE', new Error(message));
}

function defaultName(spec: TaskSpec): string {
  return 'module' in spec && spec.module !== undefined
    ? basename(spec.module).replace(/\.[cm]?[jt]s$/, '')
    : basename((spec as { command: string }).command);
}

function deferred(): { promise: Promise<TaskOutcome>; resolve: (outcome: TaskOutcome) => void } {
  let resolvePromise!: (outcome: TaskOutcome) => void;
  const promise = new Promise<TaskOutcome>((r) => (resolvePromise = r));
  return { promise, resolve: resolvePromise };
}
