/**
 * The Supervisor runs every task in its own process group and executes the actions of the pure
 * state machine (state-machine.ts) against real processes: the public API, the queue and the
 * dispatch of machine events and actions, and the events listeners hear. The parts live beside
 * it, each with its one concern: spawning an attempt (attempt-spawn.ts), listening to its process
 * (child-wiring.ts), every process of it and the OS work on them (src/process/attempt-processes.ts),
 * the end of a reusable run (runner-reuse.ts), stops (stopping.ts), the watchdog's rules
 * (watchdog.ts), usage sampling (usage-sampler.ts) and the per-task bookkeeping (task-record.ts).
 * Everything that touches the OS lives in src/process; everything that decides lives in the machine.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ChildProcess } from 'node:child_process';
import {
  automaticContainment,
  cgroupPriorityMechanism,
  containmentSupport,
  processGroupSupport,
  type ContainmentSupport,
} from '../process/cgroup/support.js';
import { sweepLeftovers, TaskCgroups } from '../process/cgroup/owner.js';
import { AttemptProcesses } from '../process/attempt-processes.js';
import { cpuPriority, priorityMechanism } from '../process/priority.js';
import { readProcStat } from '../process/proc.js';
import { LineageMark } from '../process/lineage.js';
import { OrphanGuard } from '../process/orphan-guard.js';
import type { FromRunner, ToRunner } from '../common/runner-ipc.js';
import { LatestWins } from '../common/latest-wins.js';
import { taskError, toTaskError, withCode, type TaskError } from '../common/task-errors.js';
import { TASK_ID_RULE, isTaskId } from '../common/task-id.js';
import { formatBytes } from '../common/bytes.js';
import { resolveOptions, reuseLimit, validateSpec, type ResolvedOptions, type SupervisorOptions } from './options.js';
import { RunnerPool } from './runner-pool.js';
import { IdleRunners } from './idle-runners.js';
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
import { AttemptSpawner } from './attempt-spawn.js';
import { wireChild } from './child-wiring.js';
import { RunnerReuse } from './runner-reuse.js';
import { Stopping, isStopping } from './stopping.js';
import { stallOf, stallPolicyEvent } from './watchdog.js';
import { defaultName, deferred, notReusedLine, snapshotOf, type TaskRecord } from './task-record.js';
import type {
  LogLine,
  Progress,
  ResourceUsage,
  StopAllResult,
  StopReason,
  SupervisorEvent,
  TaskOutcome,
  TaskSnapshot,
  TaskSpec,
} from './types.js';
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
  readonly #spawner: AttemptSpawner;
  readonly #reuse: RunnerReuse;
  readonly #stopping: Stopping;
  readonly #pendingEvents: Array<[TaskRecord, MachineEvent]> = [];
  readonly #onProcessExit = () => this.#killEverythingNow();
  #dispatching = false;
  #pumpScheduled = false;
  /** Admissions decided but not yet applied (events queue while another is being processed). */
  #admitting = 0;
  #active = 0;
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
    const cgroups = this.#cgroups;
    this.#guard = new OrphanGuard(this.#mark, cgroups && { prefix: cgroups.prefix, parents: cgroups.parents });
    const { prewarm, cpu, preload } = this.#options;
    const mark = this.#mark;
    this.#pool =
      prewarm > 0
        ? new RunnerPool({ size: prewarm, priority: cpu, guard: this.#guard, mark, preload, cgroups })
        : undefined;
    const idleRunners = new IdleRunners({
      max: this.#options.concurrency,
      idleMs: this.#options.runnerIdleMs,
      guard: this.#guard,
    });
    this.#idleRunners = idleRunners;
    this.#sampler = new UsageSampler({
      intervalMs: Math.min(this.#options.sampleIntervalMs, Math.max(25, this.#options.stallAfterMs / 4)),
      targets: () => this.#runningRecords(),
      onSample: (id, usage, escaped) => this.#onUsage(id, usage, escaped),
    });
    this.#spawner = new AttemptSpawner({ mark, cgroups, pool: this.#pool, idleRunners, poolCpu: cpu });
    this.#reuse = new RunnerReuse({
      idleRunners,
      runnerMaxRssBytes: this.#options.runnerMaxRssBytes,
      isShutDown: () => this.#shutDown,
      dispatch: (record, event) => this.#dispatch(record, event),
      output: (record, stream, line) => this.#onOutputLine(record, record.machine.attempt, stream, line),
      send: (record, message) => this.#sendToRunner(record, message),
    });
    this.#stopping = new Stopping(this.#pool);
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
    const progressOut = new LatestWins<Progress>(this.#options.progressIntervalMs, (progress) =>
      this.#emitProgress(record, progress),
    );
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
    this.#tasks.set(id, record);
    this.#queue.push(record);
    this.#emitEvent({ type: 'created', task: snapshotOf(record) });
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
    return [...this.#tasks.values()].map(snapshotOf);
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
    snapshot: (id: string) => snapshotOf(this.#record(id)),
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
    if (stoppingDelta !== 0) this.#stopping.changed(stoppingDelta);
    // Signal first: the actions (a signal, an escalation timer) run before any listener hears of
    // the change, so a slow listener (the daemon's journal write and broadcast) never delays a stop.
    // Events raised by the actions queue behind this one (#dispatch), so listeners still see order.
    for (const action of actions) this.#execute(record, action);
    if (event.type === 'spawned') this.#emitSpawned(record, event.at);
    if (changed) {
      if (isTerminalState(next.state)) record.progressOut.flush();
      this.#emitState(record, previous);
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
      case 'restore-priority':
        return this.#stopping.restorePriority(record);
      case 'signal':
        return record.processes?.signal(action.signal);
      case 'freeze':
        return record.processes?.freeze(true);
      case 'thaw':
        record.processes?.freeze(false);
        // Silence while frozen was not the task's doing: the watchdog counts from now.
        return this.#onActivity(record);
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
        return this.#watchGroup(record);
      case 'keep-runner':
        return this.#reuse.park(record);
      case 'retire-runner':
        return this.#reuse.retire(record);
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
        return this.#settle(record, action.outcome);
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
      if (record.machine.state !== 'queued' || !this.#spawner.canUsePool(record)) continue;
      if (record.reuseLimit > 1) reusable += 1;
      else needed += 1;
    }
    if (reusable === 0) return needed;
    let serving = this.#idleRunners.size;
    for (const record of this.#tasks.values()) if (record.runner) serving += 1;
    return needed + Math.max(0, reusable - serving);
  }

  // ---- processes ----------------------------------------------------------------------------

  #spawn(record: TaskRecord): void {
    record.timers.spawnDelay = undefined;
    if (record.machine.state !== 'starting') return;
    this.#resetAttempt(record);
    let child: ChildProcess | TaskError;
    try {
      child = this.#spawner.spawn(record);
    } catch (error) {
      this.#spawner.releaseCgroup(record);
      // Contained to this task: a throw here would otherwise escape the queue pump and end the owner.
      const cause = toTaskError(error);
      const message = `task ${record.id} could not be started: ${cause.message}`;
      const failure = { ...cause, code: cause.code ?? 'SPAWN_FAILED', message };
      return this.#dispatch(record, { type: 'spawn-failed', error: failure, at: Date.now() });
    }
    if (!(child instanceof ChildProcess)) {
      this.#spawner.releaseCgroup(record);
      return this.#dispatch(record, { type: 'spawn-failed', error: child, at: Date.now() });
    }
    if (child.pid === undefined) {
      this.#spawner.releaseCgroup(record);
      child.once('error', (error) =>
        this.#dispatch(record, { type: 'spawn-failed', error: toTaskError(error, 'SPAWN_FAILED'), at: Date.now() }),
      );
      return;
    }
    this.#attach(record, child, child.pid);
    if (record.spec.timeoutMs !== undefined) {
      record.timers.timeout = setTimeout(
        () => this.#dispatch(record, { type: 'cancel', reason: 'timeout', at: Date.now() }),
        record.spec.timeoutMs,
      );
    }
    this.#dispatch(record, { type: 'spawned', at: Date.now() });
  }

  /** The attempt's process is the child now: registered with the guard, its output and messages heard. */
  #attach(record: TaskRecord, child: ChildProcess, pid: number): void {
    record.child = child;
    record.pid = pid;
    const markValue = LineageMark.valueOf(record.id, record.machine.attempt);
    record.processes = new AttemptProcesses(pid, this.#mark, markValue, () => record.cgroup);
    this.#guard.register(pid);
    const attempt = record.machine.attempt;
    const current = () => record.child === child;
    const output = (stream: 'stdout' | 'stderr') => (line: string) => this.#onOutputLine(record, attempt, stream, line);
    record.unwire = wireChild(child, {
      line: (stream, line) => {
        if (current()) this.#reuse.line(record, stream, line, output(stream));
      },
      message: (message) => {
        if (current()) this.#onRunnerMessage(record, message);
      },
      exit: (code, signal, at) => {
        if (!current()) return;
        this.#checkOom(record);
        this.#dispatch(record, { type: 'exited', code, signal, at });
      },
    });
  }

  #onRunnerMessage(record: TaskRecord, message: FromRunner): void {
    const at = Date.now();
    switch (message.t) {
      case 'started':
        record.lastActivityAt = at;
        return this.#dispatch(record, { type: 'started', at });
      case 'progress': {
        const { fraction } = message;
        return this.#onProgress(
          record,
          message.message !== undefined ? { fraction, message: message.message } : { fraction },
        );
      }
      case 'heartbeat':
        return this.#onActivity(record);
      case 'result':
        this.#dispatch(record, { type: 'report', report: { kind: 'result', value: message.value }, at });
        if (message.idle) this.#reuse.idle(record, message.idle.rssBytes);
        return;
      case 'error':
        return this.#dispatch(record, { type: 'report', report: { kind: 'error', error: message.error }, at });
      case 'cancelled':
        return this.#dispatch(record, { type: 'report', report: { kind: 'cancelled', error: message.error }, at });
      case 'not-reusable':
        return this.#onOutputLine(record, record.machine.attempt, 'stderr', notReusedLine(record, message.why));
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

  /** After the leader exits: poll until everything of the attempt is gone (its cgroup says so at once). */
  #watchGroup(record: TaskRecord): void {
    const processes = record.processes;
    if (!processes) return this.#dispatch(record, { type: 'group-empty', at: Date.now() });
    let delay = 1;
    let reportedLingering = false;
    let stopWatching: (() => void) | undefined;
    const check = () => {
      clearTimeout(record.timers.groupPoll);
      record.timers.groupPoll = undefined;
      if (processes.isGone()) {
        stopWatching?.();
        this.#spawner.releaseCgroup(record);
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

  #settle(record: TaskRecord, outcome: TaskOutcome): void {
    this.#clearTimers(record);
    this.#spawner.releaseCgroup(record);
    if (record.pid !== undefined) this.#guard.unregister(record.pid);
    record.child?.removeAllListeners('message');
    record.child = undefined;
    record.done.resolve(outcome); // endedAt was set when the terminal state was emitted
  }

  #forgetAttempt(record: TaskRecord): void {
    if (record.pid !== undefined) this.#guard.unregister(record.pid);
    record.pid = undefined;
    record.processes = undefined;
    record.progress = undefined;
    record.progressOut.drop();
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
    record.lastActivityAt = Date.now();
  }

  #clearTimers(record: TaskRecord): void {
    for (const timer of Object.values(record.timers)) clearTimeout(timer);
    record.timers = {};
  }

  /** Runs in process 'exit': synchronous only. */
  #killEverythingNow(): void {
    for (const record of this.#tasks.values()) {
      if (!isTerminalState(record.machine.state)) record.processes?.killNow();
    }
    this.#pool?.close();
    this.#idleRunners.close();
    this.#guard.close();
  }

  // ---- progress, activity, usage, watchdog --------------------------------------------------

  #onActivity(record: TaskRecord): void {
    record.lastActivityAt = Date.now();
    record.stall = undefined;
  }

  #onProgress(record: TaskRecord, progress: Progress): void {
    if (isTerminalState(record.machine.state)) return;
    this.#onActivity(record);
    record.progress = progress;
    record.progressOut.push(progress);
  }

  /** Passes the progress on (record.progressOut: the latest value, at most once per progressIntervalMs). */
  #emitProgress(record: TaskRecord, progress: Progress): void {
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
    record.processes?.addEscapees(escaped);
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

  /** The watchdog (watchdog.ts): a running task silent for stallAfterMs is reported once, then its policy applies. */
  #checkStall(record: TaskRecord, usage: ResourceUsage): void {
    if (record.machine.state !== 'running') return;
    const { stallAfterMs, onStall, maxRestarts, restartWindowMs } = this.#options;
    const stall = stallOf(record.id, Date.now() - record.lastActivityAt, stallAfterMs, usage);
    if (!stall) return;
    const firstReport = record.stall === undefined;
    record.stall = stall;
    if (!firstReport) return;
    record.handle.emit('stall', stall);
    this.#emitEvent({ type: 'stall', taskId: record.id, stall });
    const nextRestartDelay = (at: number) => record.restarts.next(at);
    const event = stallPolicyEvent(record.id, { onStall, maxRestarts, restartWindowMs, nextRestartDelay }, Date.now());
    if (event) this.#dispatch(record, event);
  }

  // ---- events -------------------------------------------------------------------------------

  #emitState(record: TaskRecord, previous: MachineState): void {
    const machine = record.machine;
    if (isTerminalState(machine.state)) record.endedAt = Date.now();
    const snapshot = snapshotOf(record);
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
