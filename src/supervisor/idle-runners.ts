/**
 * Reusable runners between two tasks (issue #14): a runner whose task completed cleanly waits
 * here for the next task of the same kind, keyed by what is fixed in a runner process (module,
 * cwd, env, CPU priority, memory limit). Bounded in number (the oldest goes first) and in time
 * (an idle runner is ended after `idleMs`); all are ended at shutdown. An idle runner is
 * unref'd: it never keeps a program alive. Also the one way a runner's cgroup is removed once
 * it is empty (the pool and the supervisor share it).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { signalGroup } from '../process/group.js';
import type { OrphanGuard } from '../process/orphan-guard.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';

/** A runner that serves tasks of one kind one after another. */
export interface ReusableRunner {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly cgroup: TaskCgroup | undefined;
  readonly key: string;
  /** Tasks it has been given, the current one included. */
  served: number;
}

export interface IdleRunnersOptions {
  /** Most runners kept idle at once. */
  max: number;
  /** How long a runner may wait for its next task before it is ended. */
  idleMs: number;
  guard: OrphanGuard;
}

interface Parked {
  runner: ReusableRunner;
  timer: NodeJS.Timeout;
  onExit: () => void;
}

export class IdleRunners {
  /** Oldest first. */
  readonly #parked: Parked[] = [];
  readonly #options: IdleRunnersOptions;
  /** Runners ended and not yet reaped. */
  readonly #ending = new Set<ChildProcess>();
  #closed = false;

  constructor(options: IdleRunnersOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#parked.length;
  }

  /** Keeps a runner for the next task of its key; ends the oldest idle one when full, or this one once closed. */
  park(runner: ReusableRunner): void {
    if (this.#closed || this.#options.max === 0) return this.#end(runner);
    if (this.#parked.length >= this.#options.max) this.#drop(this.#parked[0]!, true);
    const { child } = runner;
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    for (const stream of [child.stdout, child.stderr]) {
      stream?.resume(); // nothing is expected between tasks; whatever comes is dropped, never queued
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
    const parked: Parked = {
      runner,
      timer: setTimeout(() => this.#drop(parked, true), this.#options.idleMs).unref(),
      // Died while idle (killed by hand, a leftover that threw): forget it; the next task gets another.
      onExit: () => this.#drop(parked, false),
    };
    child.once('exit', parked.onExit);
    this.#parked.push(parked);
  }

  /** The most recently parked runner of that key (the warmest), taken out, or undefined. */
  take(key: string): ReusableRunner | undefined {
    for (let k = this.#parked.length - 1; k >= 0; k--) {
      const parked = this.#parked[k]!;
      if (parked.runner.key !== key || parked.runner.child.exitCode !== null || parked.runner.child.signalCode !== null)
        continue;
      this.#parked.splice(k, 1);
      clearTimeout(parked.timer);
      const { child } = parked.runner;
      child.off('exit', parked.onExit);
      child.ref();
      (child.channel as { ref?: () => void } | undefined)?.ref?.();
      return parked.runner;
    }
    return undefined;
  }

  /** Ends every idle runner; later park() calls end theirs at once. */
  close(): void {
    this.#closed = true;
    for (const parked of [...this.#parked]) this.#drop(parked, true);
  }

  /** Resolves once every runner ended here has been reaped (at most `timeoutMs`). */
  reaped(timeoutMs: number): Promise<void> {
    return allExited(this.#ending, timeoutMs);
  }

  #drop(parked: Parked, end: boolean): void {
    const index = this.#parked.indexOf(parked);
    if (index < 0) return;
    this.#parked.splice(index, 1);
    clearTimeout(parked.timer);
    parked.runner.child.off('exit', parked.onExit);
    if (end) return this.#end(parked.runner);
    this.#options.guard.unregister(parked.runner.pid);
    if (parked.runner.cgroup) removeCgroupWhenEmpty(parked.runner.cgroup);
  }

  /** An idle runner holds no task: SIGKILL ends it at once (its cgroup, else its group). */
  #end(runner: ReusableRunner): void {
    runner.cgroup?.kill();
    signalGroup(runner.pid, 'SIGKILL');
    this.#options.guard.unregister(runner.pid);
    const { child, cgroup } = runner;
    if (child.exitCode !== null || child.signalCode !== null) return;
    this.#ending.add(child);
    child.once('exit', () => {
      this.#ending.delete(child);
      if (cgroup) removeCgroupWhenEmpty(cgroup);
    });
  }
}

const removals = new Set<Promise<void>>();

/**
 * Removes a cgroup whose processes are gone or going, in the background: at once where the kernel
 * agrees, else killed and retried every 20 ms for about a second (the kernel may still be taking
 * them out). A stop's outcome never waits for it; shutdown() does (cgroupsRemoved).
 */
export function removeCgroupWhenEmpty(cgroup: TaskCgroup): void {
  const removal = removeWithRetries(cgroup).finally(() => removals.delete(removal));
  removals.add(removal);
}

async function removeWithRetries(cgroup: TaskCgroup): Promise<void> {
  if (await cgroup.removeInBackground()) return;
  cgroup.kill();
  for (let tries = 0; tries < 50; tries++) {
    // Unref'd: a cgroup left for the orphan guard or the next sweep must not keep a program alive.
    await delay(20, undefined, { ref: false });
    if (await cgroup.removeInBackground()) return;
  }
}

/** Resolves once every cgroup removal under way (of any Supervisor in this process) has ended. */
export async function cgroupsRemoved(): Promise<void> {
  await Promise.all(removals);
}

/** Resolves once every child in `children` has exited (they are removed from it on exit), or after `timeoutMs`. */
export function allExited(children: ReadonlySet<ChildProcess>, timeoutMs: number): Promise<void> {
  const pending = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
  if (pending.length === 0) return Promise.resolve();
  return new Promise((resolveAll) => {
    const timer = setTimeout(resolveAll, timeoutMs);
    let left = pending.length;
    for (const child of pending) {
      child.once('exit', () => {
        if (--left > 0) return;
        clearTimeout(timer);
        resolveAll();
      });
    }
  });
}
