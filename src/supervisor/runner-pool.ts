/**
 * Prewarmed runners: idle runner processes kept ready so that start() and
 * restart() of a module task skip Node's start-up. A runner from here serves one
 * task, or, for a reusable task (spec.reuse), the tasks of that kind after it
 * (idle-runners.ts keeps it then). Only tasks with the supervisor's own env can use
 * one: env is fixed at spawn. The pool holds `size` runners, and more while queued
 * tasks need them (setDemand): a batch's next starts never wait for Node's start-up.
 */
import type { ChildProcess } from 'node:child_process';
import { PACKAGE_ENTRY_URL } from '../common/runner-ipc.js';
import { spawnRunner } from '../process/spawn.js';
import { signalGroup } from '../process/group.js';
import type { OrphanGuard } from '../process/orphan-guard.js';
import type { CpuPriority } from '../process/priority.js';
import type { LineageMark } from '../process/lineage.js';
import type { TaskCgroups } from '../process/cgroup/owner.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';
import { allExited, removeCgroupWhenEmpty } from './idle-runners.js';

export interface RunnerPoolOptions {
  size: number;
  priority: CpuPriority;
  guard: OrphanGuard;
  mark: LineageMark;
  preload?: readonly string[];
  /** With cgroup containment: each runner is born in a cgroup of its own, which goes with it to its task. */
  cgroups?: TaskCgroups | undefined;
}

/** A runner handed out, with the cgroup it lives in. */
export interface PooledRunner {
  child: ChildProcess;
  cgroup?: TaskCgroup;
}

/** How long after a runner is taken its replacement is spawned. */
const REFILL_DELAY_MS = 20;

export class RunnerPool {
  readonly #idle: ChildProcess[] = [];
  readonly #cgroupOf = new Map<ChildProcess, TaskCgroup>();
  readonly size: number;
  /** Runners queued tasks will need soon (the supervisor's count); the pool holds max(size, demand). */
  #demand = 0;
  readonly priority: CpuPriority;
  readonly guard: OrphanGuard;
  readonly mark: LineageMark;
  readonly preload: readonly string[];
  readonly cgroups: TaskCgroups | undefined;
  readonly #ready = new Set<ChildProcess>();
  #waiters: Array<() => void> = [];
  /** Booting runners frozen (SIGSTOP) while a stop is under way. */
  readonly #frozen = new Set<ChildProcess>();
  #closed = false;
  #paused = false;
  /** Runners ended and not yet reaped. */
  readonly #ending = new Set<ChildProcess>();
  #refillScheduled = false;

  constructor(options: RunnerPoolOptions) {
    this.size = options.size;
    this.priority = options.priority;
    this.guard = options.guard;
    this.mark = options.mark;
    this.preload = options.preload ?? [];
    this.cgroups = options.cgroups;
    this.#refill();
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  get #target(): number {
    return Math.max(this.size, this.#demand);
  }

  /**
   * How many runners the queued tasks need next. More: spawned after the usual delay. Fewer: the
   * surplus (beyond `size`) is ended, booting ones first, so that no runner waits for nothing.
   */
  setDemand(runners: number): void {
    if (this.#closed || runners === this.#demand) return;
    this.#demand = runners;
    if (this.#idle.length < this.#target) return this.#scheduleRefill();
    while (this.#idle.length > this.#target) {
      const booting = this.#idle.findIndex((r) => !this.#ready.has(r));
      this.#end(this.#idle.splice(booting >= 0 ? booting : this.#idle.length - 1, 1)[0]!);
    }
  }

  /** An idle runner (maybe still booting: messages queue until it listens), or undefined. */
  take(): PooledRunner | undefined {
    // A runner that said 'ready' first; one still booting is still faster than a cold spawn.
    const index = Math.max(
      0,
      this.#idle.findIndex((r) => this.#ready.has(r)),
    );
    const runner = this.#idle.splice(index, 1)[0];
    if (runner) {
      this.#thaw(runner);
      this.#ready.delete(runner);
      runner.removeAllListeners('exit');
      runner.removeAllListeners('message');
      this.#scheduleRefill();
    }
    if (!runner) return undefined;
    const cgroup = this.#cgroupOf.get(runner);
    this.#cgroupOf.delete(runner);
    return cgroup ? { child: runner, cgroup } : { child: runner };
  }

  /** Resolves once every idle slot holds a runner that is ready (booted and preloaded). */
  warm(): Promise<void> {
    if (this.#closed || this.#ready.size >= this.size) return Promise.resolve();
    // Idle runners are unref'd; someone waiting for them must keep the program alive meanwhile.
    const keepAlive = setInterval(() => {}, 60_000);
    return new Promise((resolve) =>
      this.#waiters.push(() => {
        clearInterval(keepAlive);
        resolve();
      }),
    );
  }

  #wakeWaiters(): void {
    if (!this.#closed && this.#ready.size < this.size) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * A stop takes precedence over prewarming. A booting runner (tens of milliseconds of CPU) competes
   * with the task being stopped, which still has to be scheduled to run its cleanup, and even to exit
   * after SIGKILL: on a machine with few cores a kill took several times as long while a replacement
   * booted (npm run bench -- core measures kills).
   * Until resumeBoots(), booting runners are frozen (SIGSTOP to their group; take() thaws the one
   * it hands out) and no new one is spawned.
   */
  pauseBoots(): void {
    if (this.#paused || this.#closed) return;
    this.#paused = true;
    for (const runner of this.#idle) {
      if (this.#ready.has(runner) || runner.pid === undefined) continue;
      if (signalGroup(runner.pid, 'SIGSTOP')) this.#frozen.add(runner);
    }
  }

  resumeBoots(): void {
    if (!this.#paused) return;
    this.#paused = false;
    for (const runner of [...this.#frozen]) this.#thaw(runner);
    this.#scheduleRefill();
  }

  #thaw(runner: ChildProcess): void {
    if (!this.#frozen.delete(runner) || runner.pid === undefined) return;
    signalGroup(runner.pid, 'SIGCONT');
  }

  close(): void {
    this.#closed = true;
    this.#frozen.clear(); // SIGKILL ends a stopped process as well
    this.#ready.clear();
    this.#wakeWaiters();
    for (const runner of this.#idle.splice(0)) this.#end(runner);
  }

  /** Resolves once every runner ended here has been reaped (at most `timeoutMs`). */
  reaped(timeoutMs: number): Promise<void> {
    return allExited(this.#ending, timeoutMs);
  }

  /** SIGKILL to an idle runner (no task in it), its cgroup removed once it is gone. */
  #end(runner: ChildProcess): void {
    runner.removeAllListeners('exit');
    if (runner.exitCode === null && runner.signalCode === null) {
      this.#ending.add(runner);
      runner.once('exit', () => this.#ending.delete(runner));
    }
    this.#ready.delete(runner);
    this.#frozen.delete(runner);
    const cgroup = this.#cgroupOf.get(runner);
    cgroup?.kill();
    if (runner.pid) {
      signalGroup(runner.pid, 'SIGKILL');
      this.guard.unregister(runner.pid);
    }
    if (cgroup) runner.once('exit', () => this.#removeCgroup(runner));
  }

  /** An idle runner's cgroup, once it is gone. */
  #removeCgroup(runner: ChildProcess): void {
    const cgroup = this.#cgroupOf.get(runner);
    if (!cgroup) return;
    this.#cgroupOf.delete(runner);
    removeCgroupWhenEmpty(cgroup);
  }

  #scheduleRefill(): void {
    if (this.#refillScheduled || this.#closed) return;
    this.#refillScheduled = true;
    // Off the hot path: the task that just took a runner starts first. spawn() blocks this process
    // and a booting runner takes CPU; next to a starting task they made its start slower (and a
    // kill right after it too).
    setTimeout(() => {
      this.#refillScheduled = false;
      this.#refill();
    }, REFILL_DELAY_MS).unref();
  }

  #refill(): void {
    while (!this.#closed && !this.#paused && this.#idle.length < this.#target) {
      let cgroup: TaskCgroup | undefined;
      try {
        cgroup = this.cgroups?.create();
        cgroup?.setCpu(this.priority);
      } catch {
        cgroup?.remove();
        return; // no cgroup, no prewarming: tasks then make their own (and say what failed)
      }
      const runner = spawnRunner({
        priority: this.priority,
        preload: [PACKAGE_ENTRY_URL, ...this.preload],
        mark: [this.mark.name, this.mark.idleValue],
        ...(cgroup ? { cgroup } : {}),
      });
      if (!runner.pid) {
        runner.on('error', () => {});
        cgroup?.remove();
        return;
      }
      if (cgroup) this.#cgroupOf.set(runner, cgroup);
      const pid = runner.pid;
      this.guard.register(pid);
      // Idle runners stay out of the event loop's reckoning: an idle pool must not keep a program alive.
      runner.unref();
      (runner.channel as { unref?: () => void } | undefined)?.unref?.();
      runner.stdout?.resume();
      runner.stderr?.resume();
      (runner.stdout as unknown as { unref?: () => void })?.unref?.();
      (runner.stderr as unknown as { unref?: () => void })?.unref?.();
      runner.on('error', () => {});
      runner.on('message', (message: { t?: string }) => {
        if (message?.t !== 'ready') return;
        this.#ready.add(runner);
        this.#wakeWaiters();
      });
      runner.once('exit', () => {
        // Died while idle (killed by hand?): forget it and make another.
        const index = this.#idle.indexOf(runner);
        if (index >= 0) this.#idle.splice(index, 1);
        this.#ready.delete(runner);
        this.#frozen.delete(runner);
        this.guard.unregister(pid);
        this.#removeCgroup(runner);
        this.#scheduleRefill();
      });
      this.#idle.push(runner);
    }
  }
}
