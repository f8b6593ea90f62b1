/**
 * The supervisor's engine: it holds the tasks and their queue, feeds machine events to the pure
 * state machine one at a time, and executes the actions it returns against the parts (an attempt's
 * process from spawn to settling: attempt-lifecycle.ts; the attempt's processes, reusable runners,
 * stops), in the order that keeps a stop first: the actions of an event run before any listener
 * hears of it. The Supervisor is its public face.
 */
import { LatestWins } from '../common/latest-wins.js';
import type { TaskCgroups } from '../process/cgroup/owner.js';
import type { LineageMark } from '../process/lineage.js';
import type { OrphanGuard } from '../process/orphan-guard.js';
import { readProcStat } from '../process/proc.js';
import { Admission } from './admission.js';
import { AttemptLifecycle } from './attempt-lifecycle.js';
import { AttemptReports } from './attempt-reports.js';
import { AttemptSpawner } from './attempt-spawn.js';
import { IdleRunners } from './idle-runners.js';
import type { ResolvedOptions } from './options.js';
import { RunnerPool } from './runner-pool.js';
import { RunnerReuse } from './runner-reuse.js';
import { holdsSlot, transition, type MachineAction, type MachineEvent, type MachineState } from './state-machine.js';
import { Stopping, isStopping } from './stopping.js';
import { deferred, snapshotOf, type TaskRecord } from './task-record.js';
import { UsageSampler, type SampleTarget } from './usage-sampler.js';
import { isTerminalState, type Progress, type SupervisorEvent } from './types.js';

export interface ExecutorDeps {
  options: ResolvedOptions;
  mark: LineageMark;
  cgroups: TaskCgroups | undefined;
  guard: OrphanGuard;
  emit: (event: SupervisorEvent) => void;
  /** Whether anyone listens to the supervisor's events (facts that cost a read are read only then). */
  listened: () => boolean;
}

export class TaskExecutor {
  readonly tasks = new Map<string, TaskRecord>();
  readonly pool: RunnerPool | undefined;
  readonly idleRunners: IdleRunners;
  readonly sampler: UsageSampler;
  /** Set by shutdown: no runner is kept for another task. */
  shutDown = false;
  readonly #deps: ExecutorDeps;
  readonly #options: ResolvedOptions;
  readonly #guard: OrphanGuard;
  readonly #emit: (event: SupervisorEvent) => void;
  readonly #admission: Admission;
  readonly #spawner: AttemptSpawner;
  readonly #reuse: RunnerReuse;
  readonly #reports: AttemptReports;
  readonly #attempts: AttemptLifecycle;
  readonly #stopping: Stopping;
  readonly #pendingEvents: Array<[TaskRecord, MachineEvent]> = [];
  #dispatching = false;

  constructor(deps: ExecutorDeps) {
    this.#deps = deps;
    const { options, mark, cgroups, guard } = deps;
    this.#options = options;
    this.#guard = guard;
    this.#emit = deps.emit;
    const { prewarm, cpu, preload } = options;
    this.pool =
      prewarm > 0 ? new RunnerPool({ size: prewarm, priority: cpu, guard, mark, preload, cgroups }) : undefined;
    const idleRunners = new IdleRunners({ max: options.concurrency, idleMs: options.runnerIdleMs, guard });
    this.idleRunners = idleRunners;
    this.sampler = new UsageSampler({
      intervalMs: Math.min(options.sampleIntervalMs, Math.max(25, options.stallAfterMs / 4)),
      targets: () => this.#runningRecords(),
      onSample: (id, usage, escaped) => {
        const record = this.tasks.get(id);
        if (record && holdsSlot(record.machine.state)) this.#reports.usage(record, usage, escaped);
      },
    });
    this.#spawner = new AttemptSpawner({ mark, cgroups, pool: this.pool, idleRunners, poolCpu: cpu });
    const dispatch = (record: TaskRecord, event: MachineEvent) => this.dispatch(record, event);
    this.#reuse = new RunnerReuse({
      idleRunners,
      runnerMaxRssBytes: options.runnerMaxRssBytes,
      isShutDown: () => this.shutDown,
      dispatch,
      output: (record, stream, line) => this.#reports.output(record, record.machine.attempt, stream, line),
      send: (record, message) => this.#attempts.sendToRunner(record, message),
    });
    this.#reports = new AttemptReports({ options, reuse: this.#reuse, dispatch, emit: this.#emit });
    this.#attempts = new AttemptLifecycle({
      mark,
      guard,
      spawner: this.#spawner,
      reports: this.#reports,
      reuse: this.#reuse,
      sampler: this.sampler,
      dispatch,
    });
    this.#stopping = new Stopping(this.pool);
    this.#admission = new Admission({
      concurrency: options.concurrency,
      admit: (record) => this.dispatch(record, { type: 'admit', at: Date.now() }),
      afterPass: (queue) => this.pool?.setDemand(this.#runnersNeededNext(queue)),
    });
  }

  /** A new task: queued, announced ('created'), and admitted after this turn's microtasks. */
  add(record: TaskRecord): void {
    this.tasks.set(record.id, record);
    this.#admission.enqueue(record);
    this.#emit({ type: 'created', task: snapshotOf(record) });
    // Admission waits a microtask, so a caller can attach listeners and see 'starting' and 'running'.
    this.#admission.schedule();
  }

  /** The task's progress passed on, as a record's progressOut does (at most once per progressIntervalMs). */
  progressOut(record: () => TaskRecord): LatestWins<Progress> {
    return new LatestWins<Progress>(this.#options.progressIntervalMs, (progress) =>
      this.#reports.emitProgress(record(), progress),
    );
  }

  /** Events are processed one at a time, in order, even when an action raises a new one. */
  dispatch(record: TaskRecord, event: MachineEvent): void {
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
    if (event.type === 'admit') this.#admission.admitted();
    const { next, actions } = transition(previous, event);
    record.machine = next;
    if (holdsSlot(next.state) && !holdsSlot(previous.state)) this.#admission.slotTaken();
    const changed = next.state !== previous.state || next.attempt !== previous.attempt;
    // A new attempt has no pid, progress, usage, stall or start of its own yet: none is carried over
    // into its snapshots (the journal records what they say).
    if (next.attempt !== previous.attempt) this.#attempts.forget(record);
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
        if (action.delayMs > 0)
          record.timers.spawnDelay = setTimeout(() => this.#attempts.spawn(record), action.delayMs);
        else this.#attempts.spawn(record);
        return;
      case 'abort':
        // After the current synchronous work: stopAll signals every group first, then writes the
        // aborts (each write wakes a runner that would otherwise preempt the loop of signals).
        queueMicrotask(() => this.#attempts.sendToRunner(record, { t: 'abort', reason: action.reason }));
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
        return this.#reports.activity(record);
      case 'arm-grace':
        clearTimeout(record.timers.grace);
        record.timers.grace = setTimeout(
          () => this.dispatch(record, { type: 'grace-expired', at: Date.now() }),
          record.spec.graceMs ?? this.#options.graceMs,
        );
        return;
      case 'disarm-grace':
        clearTimeout(record.timers.grace);
        record.timers.grace = undefined;
        return;
      case 'watch-group':
        return this.#attempts.watchGroup(record);
      case 'keep-runner':
        return this.#reuse.park(record);
      case 'retire-runner':
        return this.#reuse.retire(record);
      case 'release-slot':
        this.#admission.slotFreed();
        return;
      case 'enqueue':
        record.done = deferred();
        this.#admission.enqueue(record);
        this.#admission.pass();
        return;
      case 'settle':
        return this.#attempts.settle(record, action.outcome);
    }
  }

  /**
   * Runners the next `concurrency` queued tasks will take from the pool: one for each module task
   * that can use a prewarmed runner, less those a reusable kind will find already serving it. So
   * a queued batch has its processes started while the tasks before it run, not when it is its turn.
   */
  #runnersNeededNext(queue: readonly TaskRecord[]): number {
    let needed = 0;
    let reusable = 0;
    let seen = 0;
    for (const record of queue) {
      if (seen++ >= this.#options.concurrency) break;
      if (record.machine.state !== 'queued' || !this.#spawner.canUsePool(record)) continue;
      if (record.reuseLimit > 1) reusable += 1;
      else needed += 1;
    }
    if (reusable === 0) return needed;
    let serving = this.idleRunners.size;
    for (const record of this.tasks.values()) if (record.runner) serving += 1;
    return needed + Math.max(0, reusable - serving);
  }

  /** Runs in process 'exit': synchronous only. */
  killEverythingNow(): void {
    for (const record of this.tasks.values()) {
      if (!isTerminalState(record.machine.state)) record.processes?.killNow();
    }
    this.pool?.close();
    this.idleRunners.close();
    this.#guard.close();
  }

  #runningRecords(): SampleTarget[] {
    const result: SampleTarget[] = [];
    for (const record of this.tasks.values()) {
      if (record.pid === undefined || !holdsSlot(record.machine.state)) continue;
      result.push({ id: record.id, pid: record.pid, ...(record.cgroup ? { cgroup: record.cgroup } : {}) });
    }
    return result;
  }

  #emitState(record: TaskRecord, previous: MachineState): void {
    const machine = record.machine;
    if (isTerminalState(machine.state)) record.endedAt = Date.now();
    const snapshot = snapshotOf(record);
    record.handle.emit('state', snapshot, previous.state);
    const ended = machine.attempt !== previous.attempt ? machine.endedAttempt : undefined;
    this.#emit({
      type: 'state',
      task: snapshot,
      previous: previous.state,
      ...(ended ? { endedAttempt: ended } : {}),
    });
  }

  /** The attempt's process exists. Its start time is read only for a listener (the journal's recovery needs it). */
  #emitSpawned(record: TaskRecord, at: number): void {
    const pid = record.pid;
    if (pid === undefined || !this.#deps.listened()) return;
    const startTime = readProcStat(pid)?.startTime ?? null;
    this.#emit({ type: 'spawned', taskId: record.id, attempt: record.machine.attempt, pid, startTime, at });
  }
}
