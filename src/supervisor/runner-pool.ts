/**
 * Prewarmed runners: idle runner processes kept ready so that start() and
 * restart() of a module task skip Node's start-up. A runner serves one task
 * only and is never reused (a task may leave anything behind in its process).
 * Only tasks with the supervisor's own env can use one: env is fixed at spawn.
 */
import type { ChildProcess } from 'node:child_process';
import { PACKAGE_ENTRY_URL, spawnRunner } from '../process/spawn.js';
import { signalGroup } from '../process/group.js';
import type { OrphanGuard } from '../process/orphan-guard.js';
import type { CpuPriority } from '../process/priority.js';
import type { LineageMark } from '../process/lineage.js';

/** How long after a runner is taken its replacement is spawned. */
const REFILL_DELAY_MS = 20;

export class RunnerPool {
  readonly #idle: ChildProcess[] = [];
  readonly #ready = new Set<ChildProcess>();
  #waiters: Array<() => void> = [];
  /** Booting runners frozen (SIGSTOP) while a stop is under way. */
  readonly #frozen = new Set<ChildProcess>();
  #closed = false;
  #paused = false;
  #refillScheduled = false;

  constructor(
    private readonly size: number,
    private readonly priority: CpuPriority,
    private readonly guard: OrphanGuard,
    private readonly mark: LineageMark,
    private readonly preload: readonly string[] = [],
  ) {
    this.#refill();
  }

  /** An idle runner (maybe still booting: messages queue until it listens), or undefined. */
  take(): ChildProcess | undefined {
    // A runner that said 'ready' first; one still booting is still faster than a cold spawn.
    const index = Math.max(0, this.#idle.findIndex((r) => this.#ready.has(r)));
    const runner = this.#idle.splice(index, 1)[0];
    if (runner) {
      this.#thaw(runner);
      this.#ready.delete(runner);
      runner.removeAllListeners('exit');
      runner.removeAllListeners('message');
      this.#scheduleRefill();
    }
    return runner;
  }

  /** Resolves once every idle slot holds a runner that is ready (booted and preloaded). */
  warm(): Promise<void> {
    if (this.#closed || this.#ready.size >= this.size) return Promise.resolve();
    // Idle runners are unref'd; someone waiting for them must keep the program alive meanwhile.
    const keepAlive = setInterval(() => {}, 60_000);
    return new Promise((resolve) => this.#waiters.push(() => {
      clearInterval(keepAlive);
      resolve();
    }));
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
    for (const runner of this.#idle.splice(0)) {
      runner.removeAllListeners('exit');
      if (runner.pid) {
        signalGroup(runner.pid, 'SIGKILL');
        this.guard.unregister(runner.pid);
      }
    }
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
    while (!this.#closed && !this.#paused && this.#idle.length < this.size) {
      const runner = spawnRunner({ priority: this.priority, preload: [PACKAGE_ENTRY_URL, ...this.preload], mark: [this.mark.name, ''] });
      if (!runner.pid) {
        runner.on('error', () => {});
        return;
      }
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
        this.#scheduleRefill();
      });
      this.#idle.push(runner);
    }
  }
}
