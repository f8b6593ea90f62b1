/**
 * One attempt's process, from its spawn to its settling: starting it (or saying why it could not
 * start), hearing its output, messages and exit, its timeout, writing to its runner, watching it
 * until everything of it is gone, and forgetting it before the next attempt. When each of these
 * happens is the state machine's, through the executor.
 */
import { ChildProcess } from 'node:child_process';
import type { ToRunner } from '../common/runner-ipc.js';
import { toTaskError, type TaskError } from '../common/task-errors.js';
import { AttemptProcesses } from '../process/attempt-processes.js';
import type { LineageMark } from '../process/lineage.js';
import type { OrphanGuard } from '../process/orphan-guard.js';
import type { AttemptReports } from './attempt-reports.js';
import type { AttemptSpawner } from './attempt-spawn.js';
import { wireChild } from './child-wiring.js';
import type { RunnerReuse } from './runner-reuse.js';
import type { MachineEvent } from './state-machine.js';
import type { TaskRecord } from './task-record.js';
import type { TaskOutcome } from './types.js';
import type { UsageSampler } from './usage-sampler.js';

export interface AttemptLifecycleParts {
  mark: LineageMark;
  guard: OrphanGuard;
  spawner: AttemptSpawner;
  reports: AttemptReports;
  reuse: RunnerReuse;
  sampler: UsageSampler;
  dispatch: (record: TaskRecord, event: MachineEvent) => void;
}

export class AttemptLifecycle {
  readonly #mark: LineageMark;
  readonly #guard: OrphanGuard;
  readonly #spawner: AttemptSpawner;
  readonly #reports: AttemptReports;
  readonly #reuse: RunnerReuse;
  readonly #sampler: UsageSampler;
  readonly #dispatch: (record: TaskRecord, event: MachineEvent) => void;

  constructor(parts: AttemptLifecycleParts) {
    this.#mark = parts.mark;
    this.#guard = parts.guard;
    this.#spawner = parts.spawner;
    this.#reports = parts.reports;
    this.#reuse = parts.reuse;
    this.#sampler = parts.sampler;
    this.#dispatch = parts.dispatch;
  }

  /** The 'spawn' action: the attempt's process started and heard, or a 'spawn-failed' event saying why not. */
  spawn(record: TaskRecord): void {
    record.timers.spawnDelay = undefined;
    if (record.machine.state !== 'starting') return;
    this.#reset(record);
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
    const markValue = this.#mark.value(record.id, record.machine.attempt);
    record.processes = new AttemptProcesses(pid, this.#mark, markValue, () => record.cgroup);
    this.#guard.register(pid);
    const attempt = record.machine.attempt;
    const current = () => record.child === child;
    const output = (stream: 'stdout' | 'stderr') => (line: string) =>
      this.#reports.output(record, attempt, stream, line);
    record.unwire = wireChild(child, {
      line: (stream, line) => {
        if (current()) this.#reuse.line(record, stream, line, output(stream));
      },
      message: (message) => {
        if (current()) this.#reports.message(record, message);
      },
      exit: (code, signal, at) => {
        if (!current()) return;
        this.#reports.checkOom(record);
        this.#dispatch(record, { type: 'exited', code, signal, at });
      },
    });
  }

  /** A message to the attempt's runner, if its channel is still open (a stop never depends on it). */
  sendToRunner(record: TaskRecord, message: ToRunner): void {
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

  /** After the leader exits: the attempt is over once everything of it is gone. */
  watchGroup(record: TaskRecord): void {
    const processes = record.processes;
    if (!processes) return this.#dispatch(record, { type: 'group-empty', at: Date.now() });
    processes.watchUntilGone({
      lingering: () => this.#dispatch(record, { type: 'group-lingering', at: Date.now() }),
      gone: () => {
        this.#spawner.releaseCgroup(record);
        this.#dispatch(record, { type: 'group-empty', at: Date.now() });
      },
    });
  }

  /** The task ended: its timers, cgroup and guard entry let go, and its outcome given to whoever waits. */
  settle(record: TaskRecord, outcome: TaskOutcome): void {
    this.#clearTimers(record);
    this.#spawner.releaseCgroup(record);
    if (record.pid !== undefined) this.#guard.unregister(record.pid);
    record.child?.removeAllListeners('message');
    record.child = undefined;
    record.done.resolve(outcome); // endedAt was set when the terminal state was emitted
  }

  /** A new attempt has no pid, progress, usage, stall or start of its own: the last one's are dropped. */
  forget(record: TaskRecord): void {
    if (record.pid !== undefined) this.#guard.unregister(record.pid);
    record.pid = undefined;
    record.processes?.stopWatching();
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
  #reset(record: TaskRecord): void {
    this.forget(record);
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
    record.processes?.stopWatching();
  }
}
