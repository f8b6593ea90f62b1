/**
 * The Supervisor runs every task in its own process group and executes the
 * actions of the pure state machine (state-machine.ts) against real processes.
 * Everything that touches the OS lives in src/process; everything that decides
 * lives in the machine. This file wires the two and keeps the bookkeeping.
 */
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { isGroupEmpty, signalGroup } from '../process/group.js';
import { isSameLiveProcess } from '../process/proc.js';
import { cpuPriority, lowerPriority, priorityMechanism, restorePriority, restorePriorityInBackground, type CpuPriority } from '../process/priority.js';
import { LineSplitter } from '../process/lines.js';
import { LineageMark } from '../process/lineage.js';
import { OrphanGuard } from '../process/orphan-guard.js';
import { resolveCommand, spawnCommand, spawnRunner } from '../process/spawn.js';
import { toTaskError, type FromRunner, type ToRunner } from '../runner/messages.js';
import { resolveOptions, validateSpec, type ResolvedOptions, type SupervisorOptions } from './options.js';
import { RunnerPool } from './runner-pool.js';
import { holdsSlot, initialState, transition, type MachineAction, type MachineEvent, type MachineState } from './state-machine.js';
import { Task } from './task.js';
import { UsageSampler } from './usage-sampler.js';
import { RestartIntensity } from './restart-intensity.js';
import { parseCommandProgress } from './command-progress.js';
import type {
  LogLine, Progress, ResourceUsage, StallInfo, StopAllResult, StopReason, SupervisorEvent, TaskOutcome, TaskSnapshot, TaskSpec, TaskState,
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
  machine: MachineState;
  child?: ChildProcess;
  pid?: number;
  /** Descendants that left the group (setsid), by pid -> start time. */
  escapees: Map<number, number>;
  /** The strongest signal this attempt was sent: lineage strays found later get the same. */
  lastSignal?: 'SIGTERM' | 'SIGKILL';
  startedAt?: number;
  endedAt?: number;
  progress?: Progress;
  lastActivityAt: number;
  stall?: StallInfo;
  usage?: ResourceUsage;
  timers: { grace?: NodeJS.Timeout; timeout?: NodeJS.Timeout; groupPoll?: NodeJS.Timeout; spawnDelay?: NodeJS.Timeout; progress?: NodeJS.Timeout; priority?: NodeJS.Timeout };
  progressEmittedAt: number;
  progressPending: boolean;
  done: { promise: Promise<TaskOutcome>; resolve: (outcome: TaskOutcome) => void };
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

const isStopping = (state: TaskState) => state === 'cancelling' || state === 'killing';

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: ResolvedOptions;
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #queue: TaskRecord[] = [];
  readonly #mark: LineageMark;
  readonly #guard: OrphanGuard;
  readonly #pool: RunnerPool | undefined;
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
    this.#mark = new LineageMark(options.lineageToken);
    this.#guard = new OrphanGuard(this.#mark);
    this.#pool = this.#options.prewarm > 0 ? new RunnerPool(this.#options.prewarm, this.#options.cpu, this.#guard, this.#mark, this.#options.preload) : undefined;
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
    return priorityMechanism(this.#options.cpu);
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
    if (typeof id !== 'string' || id.length === 0 || this.#tasks.has(id)) {
      throw new TypeError(`task id ${JSON.stringify(id)} is not a new non-empty string (ids come from options.id or the nextId option)`);
    }
    const attempt = options.attempt ?? 1;
    if (!Number.isSafeInteger(attempt) || attempt < 1) throw new TypeError(`start() option attempt must be an integer >= 1, got ${String(attempt)}`);
    const createdAt = options.createdAt ?? Date.now();
    if (!Number.isFinite(createdAt)) throw new TypeError(`start() option createdAt must be a time in ms since the epoch, got ${String(createdAt)}`);
    const kind = 'module' in owned && owned.module !== undefined ? 'module' : 'command';
    const record: TaskRecord = {
      id,
      name: owned.name ?? defaultName(owned),
      spec: owned,
      kind,
      cpu: owned.priority !== undefined ? cpuPriority(owned.priority) : this.#options.cpu,
      handle: new Task(this.#taskOwner, id),
      createdAt,
      restarts: new RestartIntensity(this.#options.maxRestarts, this.#options.restartWindowMs, this.#options.restartBackoffMs),
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
    return { cancelled, killed, notStarted, finished: outcomes.length - killed - cancelled, ms: performance.now() - startedAt };
  }

  /** Stops everything (as stopAll), releases prewarmed runners and the orphan guard. Idempotent. */
  async shutdown(): Promise<StopAllResult & { finished: number }> {
    this.#shutDown = true;
    this.#pool?.close();
    const result = await this.stopAll('shutdown');
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
  };

  #record(id: string): TaskRecord {
    const record = this.#tasks.get(id);
    if (!record) throw Object.assign(new Error(`unknown task id ${JSON.stringify(id)}: see list() for the tasks this supervisor knows`), { code: 'UNKNOWN_TASK' });
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
    if (changed && next.state === 'running') record.startedAt = Date.now();
    // Before the actions: the booting runners are frozen before the stopping task is signalled.
    const stoppingDelta = Number(isStopping(next.state)) - Number(isStopping(previous.state));
    if (stoppingDelta !== 0) this.#onStoppingChanged(stoppingDelta);
    // Signal first: the actions (a signal, an escalation timer) run before any listener hears of
    // the change, so a slow listener (the daemon's journal write and broadcast) never delays a stop.
    // Events raised by the actions queue behind this one (#dispatch), so listeners still see order.
    for (const action of actions) this.#execute(record, action);
    if (changed) {
      if (isTerminalState(next.state)) this.#flushProgress(record);
      this.#emitState(record, previous.state);
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
      case 'arm-grace':
        clearTimeout(record.timers.grace);
        record.timers.grace = setTimeout(() => this.#dispatch(record, { type: 'grace-expired', at: Date.now() }), record.spec.graceMs ?? this.#options.graceMs);
        return;
      case 'disarm-grace':
        clearTimeout(record.timers.grace);
        record.timers.grace = undefined;
        return;
      case 'watch-group':
        this.#watchGroup(record);
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
      // Contained to this task: a throw here would otherwise escape the queue pump and end the owner.
      const cause = toTaskError(error);
      const message = `task ${record.id} could not be started: ${cause.message}`;
      this.#dispatch(record, { type: 'spawn-failed', error: { ...cause, code: cause.code ?? 'SPAWN_FAILED', message }, at: Date.now() });
      return;
    }
    if (!child) return;
    if (child.pid === undefined) {
      child.once('error', (error) => this.#dispatch(record, { type: 'spawn-failed', error: toTaskError(error, 'SPAWN_FAILED'), at: Date.now() }));
      return;
    }
    record.child = child;
    record.pid = child.pid;
    this.#guard.register(child.pid);
    this.#wireChild(record, child);
    if (record.spec.timeoutMs !== undefined) {
      record.timers.timeout = setTimeout(() => this.#dispatch(record, { type: 'cancel', reason: 'timeout', at: Date.now() }), record.spec.timeoutMs);
    }
    this.#dispatch(record, { type: 'spawned', at: Date.now() });
  }

  #spawnModule(record: TaskRecord): ChildProcess {
    const spec = record.spec as Extract<TaskSpec, { module: string }>;
    const cwd = spec.cwd ?? process.cwd();
    // A prewarmed runner has our env, cwd and priority; a task that wants its own needs a fresh one.
    const samePriority = record.cpu.nice === this.#options.cpu.nice && record.cpu.schedIdle === this.#options.cpu.schedIdle;
    const runner = spec.env === undefined && samePriority ? this.#pool?.take() : undefined;
    const mark = this.#markOf(record);
    const child = runner ?? spawnRunner({ priority: record.cpu, env: spec.env, cwd, mark });
    if (runner) {
      runner.ref();
      (runner.channel as { ref?: () => void } | undefined)?.ref?.();
    }
    try {
      child.send({ t: 'run', module: resolve(cwd, spec.module), input: spec.input, taskId: record.id, attempt: record.machine.attempt, cwd, mark } satisfies ToRunner);
    } catch (error) {
      // The IPC serializer refuses what structuredClone took (a SharedArrayBuffer, say): the runner is ours to end.
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      throw Object.assign(new Error(`its input cannot be sent to the task process (${(error as Error).message}); pass plain data`), { code: 'INPUT_NOT_SENDABLE' });
    }
    return child;
  }

  #spawnCommand(record: TaskRecord): ChildProcess | undefined {
    const spec = record.spec as Extract<TaskSpec, { command: string }>;
    const env = spec.env ?? (process.env as Record<string, string>);
    const cwd = spec.cwd ?? process.cwd();
    const file = resolveCommand(spec.command, env, cwd);
    if (!file) {
      const error = { name: 'CommandNotFound', code: 'COMMAND_NOT_FOUND', message: `command not found: ${spec.command} (task ${record.id}): check the name and PATH` };
      this.#dispatch(record, { type: 'spawn-failed', error, at: Date.now() });
      return undefined;
    }
    return spawnCommand({ command: file, args: spec.args ?? [], priority: record.cpu, env, cwd, mark: this.#markOf(record) });
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
      if (current()) this.#dispatch(record, event);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const readable = child[stream];
      if (!readable || readable.closed) continue; // a runner that died while idle: nothing left to read
      openStreams.add(stream);
      const splitter = new LineSplitter((line) => this.#onOutputLine(record, attempt, stream, line));
      readable.on('data', (chunk: Buffer) => {
        splitter.push(chunk);
        if (exit) armDrainTimer(); // still reading what the task wrote: the limit counts from the last data
      });
      readable.on('end', () => splitter.end());
      readable.on('close', () => {
        openStreams.delete(stream);
        if (openStreams.size === 0) reportExit();
      });
      (readable as unknown as { ref?: () => void }).ref?.();
    }
    child.on('message', (message: FromRunner) => {
      if (current()) this.#onRunnerMessage(record, message);
    });
    child.on('error', () => {
      // Spawn errors are handled in #spawn; IPC send errors surface as a missing report.
    });
    child.on('exit', (code, signal) => {
      exit = { type: 'exited', code, signal, at: Date.now() };
      exitSeenAt = performance.now();
      if (openStreams.size === 0) return reportExit();
      armDrainTimer();
    });
  }

  #onRunnerMessage(record: TaskRecord, message: FromRunner): void {
    const at = Date.now();
    switch (message.t) {
      case 'started':
        record.lastActivityAt = at;
        this.#dispatch(record, { type: 'started', at });
        return;
      case 'progress':
        this.#onProgress(record, { fraction: message.fraction, ...(message.message !== undefined ? { message: message.message } : {}) });
        return;
      case 'heartbeat':
        this.#onActivity(record);
        return;
      case 'result':
        this.#dispatch(record, { type: 'report', report: { kind: 'result', value: message.value }, at });
        return;
      case 'error':
        this.#dispatch(record, { type: 'report', report: { kind: 'error', error: message.error }, at });
        return;
      case 'cancelled':
        this.#dispatch(record, { type: 'report', report: { kind: 'cancelled', error: message.error }, at });
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
    const check = () => {
      record.timers.groupPoll = undefined;
      if (this.#attemptProcessesGone(record, pgid)) {
        this.#dispatch(record, { type: 'group-empty', at: Date.now() });
        return;
      }
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
      for (const pid of [-record.pid, ...record.escapees.keys()]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone, or nothing more can be done while exiting: the guard sweeps the marks next.
        }
      }
    }
    this.#pool?.close();
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
    this.#emitEvent({ type: 'progress', taskId: record.id, progress });
  }

  #runningRecords(): Array<{ id: string; pid: number }> {
    const result: Array<{ id: string; pid: number }> = [];
    for (const record of this.#tasks.values()) {
      if (record.pid !== undefined && holdsSlot(record.machine.state)) result.push({ id: record.id, pid: record.pid });
    }
    return result;
  }

  #onUsage(id: string, usage: ResourceUsage, escaped: ReadonlyArray<{ pid: number; startTime: number }>): void {
    const record = this.#tasks.get(id);
    if (!record || !holdsSlot(record.machine.state)) return;
    record.usage = usage;
    for (const e of escaped) record.escapees.set(e.pid, e.startTime);
    record.handle.emit('usage', usage);
    this.#emitEvent({ type: 'usage', taskId: id, usage });
    this.#checkStall(record, usage);
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
          const error = {
            name: 'RestartLimit', code: 'RESTART_LIMIT',
            message: `task ${record.id} stalled again after ${this.#options.maxRestarts} restarts within ${this.#options.restartWindowMs} ms; killed instead of restarted`,
          };
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

  #emitState(record: TaskRecord, previous: TaskState): void {
    if (isTerminalState(record.machine.state)) record.endedAt = Date.now();
    const snapshot = this.#snapshot(record);
    record.handle.emit('state', snapshot, previous);
    this.#emitEvent({ type: 'state', task: snapshot, previous });
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

function defaultName(spec: TaskSpec): string {
  return 'module' in spec && spec.module !== undefined ? basename(spec.module).replace(/\.[cm]?[jt]s$/, '') : basename((spec as { command: string }).command);
}

function deferred(): { promise: Promise<TaskOutcome>; resolve: (outcome: TaskOutcome) => void } {
  let resolvePromise!: (outcome: TaskOutcome) => void;
  const promise = new Promise<TaskOutcome>((r) => (resolvePromise = r));
  return { promise, resolve: resolvePromise };
}

