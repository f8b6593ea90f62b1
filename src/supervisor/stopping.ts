/**
 * What the supervisor does for tasks while they stop, so that a stop is not slowed by what keeps
 * the machine responsive otherwise: a stopping task gets its normal CPU priority back for a short
 * window (its cleanup and exit are not starved at idle priority), and prewarmed runners do not
 * boot while any task is stopping (a boot competes with the exits for the CPU), for a bounded time.
 */
import { availableParallelism } from 'node:os';
import { cpuPriority, lowerPriority, restorePriority, restorePriorityInBackground } from '../process/priority.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';
import type { RunnerPool } from './runner-pool.js';
import type { TaskRecord } from './task-record.js';
import type { TaskState } from './types.js';

/** Longest a stop keeps prewarmed runners from booting. Kills take milliseconds, cooperative cancels tens. */
const BOOT_PAUSE_MAX_MS = 250;
/** How long a stopping task keeps its normal priority (a cleanup or an exit takes milliseconds). */
const PRIORITY_WINDOW_MS = 200;
const CPU_COUNT = Math.max(1, availableParallelism());
const NORMAL_CPU = cpuPriority('normal');

export const isStopping = (state: TaskState) => state === 'cancelling' || state === 'killing';

export class Stopping {
  readonly #pool: RunnerPool | undefined;
  /** Tasks in cancelling or killing: while there are any, prewarming waits (see RunnerPool.pauseBoots). */
  #count = 0;
  #bootPauseTimer: NodeJS.Timeout | undefined;

  constructor(pool: RunnerPool | undefined) {
    this.#pool = pool;
  }

  /** The count moves by one at a time: a pause begins when the first task starts stopping and ends with the last. */
  changed(delta: number): void {
    this.#count += delta;
    if (!this.#pool) return;
    if (this.#count === 0) {
      clearTimeout(this.#bootPauseTimer);
      this.#pool.resumeBoots();
    } else if (delta > 0 && this.#count === 1) {
      this.#pool.pauseBoots();
      // Bounded: a cleanup that takes its whole grace period must not leave the pool cold.
      this.#bootPauseTimer = setTimeout(() => this.#pool?.resumeBoots(), BOOT_PAUSE_MAX_MS).unref();
    }
  }

  /** The 'restore-priority' action: right after the signal, before any listener hears of the stop. */
  restorePriority(record: TaskRecord): void {
    const pid = record.pid;
    if (pid === undefined || record.cpu.nice === 0) return;
    if (record.cgroup?.hasCpuControl) return restoreCgroupPriority(record, record.cgroup);
    // A dying task at idle priority must be scheduled to exit, and a slow listener must not hold
    // that up. With more tasks stopping than CPUs the writes go to libuv's pool: each takes the
    // kernel's autogroup lock, and many in a row would block this event loop while it has their
    // exits to handle.
    if (this.#count <= CPU_COUNT) restorePriority(pid);
    else restorePriorityInBackground(pid);
    // Bounded: a cleanup or an exit takes milliseconds; a task that ignores its cancel (a sync
    // loop) must not spend the grace period competing with this process at full priority.
    clearTimeout(record.timers.priority);
    record.timers.priority = setTimeout(() => {
      if (record.pid === pid && isStopping(record.machine.state)) lowerPriority(pid, record.cpu.nice);
    }, PRIORITY_WINDOW_MS);
  }
}

/** The cgroup's normal share for the priority window: one write, every process of the task at once. */
function restoreCgroupPriority(record: TaskRecord, cgroup: TaskCgroup): void {
  cgroup.setCpu(NORMAL_CPU);
  clearTimeout(record.timers.priority);
  record.timers.priority = setTimeout(() => {
    if (record.cgroup === cgroup && isStopping(record.machine.state)) cgroup.setCpu(record.cpu);
  }, PRIORITY_WINDOW_MS);
}
