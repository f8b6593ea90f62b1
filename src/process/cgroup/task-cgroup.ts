/**
 * One task's cgroup: a directory in the unified hierarchy (kill, emptiness,
 * freeze, CPU time) and, where the CPU and memory controllers live in v1 trees
 * (hybrid machines), one in each of those too. Every process of the task is in
 * all of them from before it runs any task code (spawn.ts, enter.ts), and
 * whatever it starts is born inside: no setsid, double fork or re-parenting
 * takes a process out, which is what process groups cannot promise.
 *
 * Every operation is a read or write of a small kernel file: synchronous, and
 * cheap enough for the stop path. Failures of best-effort writes (a cgroup
 * already removed) are ignored where the caller cannot do better.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CpuPriority } from '../priority.js';
import type { CgroupLayout } from './support.js';

/** The kernel's weight for each nice value (kernel/sched/core.c), for cpu.shares in v1. */
const NICE_TO_WEIGHT = [1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15];

export interface CgroupMemory {
  currentBytes: number;
  peakBytes?: number;
  limitBytes?: number;
}

export class TaskCgroup {
  readonly name: string;
  readonly #v2: string;
  readonly #cpu?: { version: 1 | 2; dir: string };
  readonly #memory?: { version: 1 | 2; dir: string };
  #removed = false;

  private constructor(
    name: string,
    v2: string,
    cpu?: { version: 1 | 2; dir: string },
    memory?: { version: 1 | 2; dir: string },
  ) {
    this.name = name;
    this.#v2 = v2;
    if (cpu) this.#cpu = cpu;
    if (memory) this.#memory = memory;
  }

  /** The cgroup of that name, made before (by us or a previous owner). */
  static at(layout: CgroupLayout, name: string): TaskCgroup {
    const v2 = join(layout.v2, name);
    const place = (controller: { version: 1 | 2; parent: string } | undefined) =>
      controller && { version: controller.version, dir: controller.version === 2 ? v2 : join(controller.parent, name) };
    return new TaskCgroup(name, v2, place(layout.cpu), place(layout.memory));
  }

  /** Makes the task's directories (all or none). */
  static create(layout: CgroupLayout, name: string): TaskCgroup {
    const cgroup = TaskCgroup.at(layout, name);
    const made: string[] = [];
    try {
      for (const dir of cgroup.#dirs()) {
        mkdirSync(dir);
        made.push(dir);
      }
    } catch (error) {
      for (const dir of made.reverse()) tryRmdir(dir);
      throw Object.assign(new Error(`cannot create the task's cgroup ${name}: ${(error as Error).message}`), {
        code: 'CGROUP_FAILED',
      });
    }
    return cgroup;
  }

  /** The directory in the unified hierarchy (diagnostics). */
  get path(): string {
    return this.#v2;
  }

  get hasCpuControl(): boolean {
    return this.#cpu !== undefined;
  }

  get hasMemoryControl(): boolean {
    return this.#memory !== undefined;
  }

  /** The files a process writes its pid to, to enter every hierarchy of this cgroup (the v2 one first). */
  get procsFiles(): string[] {
    return this.#dirs().map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Moves a process (all its threads) in. */
  enter(pid: number): void {
    for (const file of this.procsFiles) writeFileSync(file, String(pid));
  }

  /** SIGKILL to every process inside, atomically (cgroup.kill). False when the cgroup is gone. */
  kill(): boolean {
    return tryWrite(join(this.#v2, 'cgroup.kill'), '1');
  }

  /** Pids of every process inside. */
  pids(): number[] {
    const text = tryRead(join(this.#v2, 'cgroup.procs'));
    if (!text) return [];
    return text.split('\n').filter(Boolean).map(Number);
  }

  /** The kernel's "populated": false once no live process is left inside (zombies do not count). */
  isPopulated(): boolean {
    const events = tryRead(join(this.#v2, 'cgroup.events'));
    return events !== undefined && /^populated 1$/m.test(events);
  }

  /**
   * Calls `onEmpty` once the cgroup has no process left, woken by the kernel's notification on
   * cgroup.events (inotify) rather than by polling. Returns a function that stops watching.
   * Callers keep a slow poll too: a notification can be missed between reading and watching.
   */
  watchEmpty(onEmpty: () => void): () => void {
    let watcher: FSWatcher | undefined;
    const stop = () => {
      watcher?.close();
      watcher = undefined;
    };
    try {
      watcher = watch(join(this.#v2, 'cgroup.events'), () => {
        if (watcher && !this.isPopulated()) {
          stop();
          onEmpty();
        }
      });
      watcher.on('error', stop);
    } catch {
      // Removed already, or no inotify: the caller's poll decides.
    }
    return stop;
  }

  /** The task's CPU share: idle (cpu.idle), a nice level's weight, or normal. */
  setCpu(priority: CpuPriority): void {
    const cpu = this.#cpu;
    if (!cpu) return;
    if (priority.schedIdle) {
      tryWrite(join(cpu.dir, 'cpu.idle'), '1');
      return;
    }
    // Out of idle first: the kernel refuses a weight for an idle group.
    tryWrite(join(cpu.dir, 'cpu.idle'), '0');
    const nice = Math.max(0, Math.min(19, priority.nice));
    if (cpu.version === 1) tryWrite(join(cpu.dir, 'cpu.shares'), String(NICE_TO_WEIGHT[nice]));
    else tryWrite(join(cpu.dir, 'cpu.weight.nice'), String(nice));
  }

  /**
   * A hard memory limit. In v2 the kernel's OOM killer then ends every process inside at once
   * (memory.oom.group); in v1 it ends one and the supervisor kills the rest on seeing oomKills().
   * Swap is limited too where the kernel accounts it, so the limit is not a slow swap storm.
   */
  setMemoryMax(bytes: number): void {
    const memory = this.#memory;
    if (!memory) throw new Error('no memory controller for task cgroups on this machine');
    if (memory.version === 2) {
      writeFileSync(join(memory.dir, 'memory.max'), String(bytes));
      writeFileSync(join(memory.dir, 'memory.oom.group'), '1');
      tryWrite(join(memory.dir, 'memory.swap.max'), '0');
    } else {
      writeFileSync(join(memory.dir, 'memory.limit_in_bytes'), String(bytes));
      tryWrite(join(memory.dir, 'memory.memsw.limit_in_bytes'), String(bytes));
    }
  }

  /** How many processes inside the kernel's OOM killer ended. */
  oomKills(): number {
    const memory = this.#memory;
    if (!memory) return 0;
    const text = tryRead(join(memory.dir, memory.version === 2 ? 'memory.events' : 'memory.oom_control'));
    const match = text && /^oom_kill (\d+)$/m.exec(text);
    return match ? Number(match[1]) : 0;
  }

  memory(): CgroupMemory | undefined {
    const memory = this.#memory;
    if (!memory) return undefined;
    const read = (file: string) => {
      const text = tryRead(join(memory.dir, file))?.trim();
      return text === undefined || text === 'max' || text === '' ? undefined : Number(text);
    };
    const currentBytes = read(memory.version === 2 ? 'memory.current' : 'memory.usage_in_bytes');
    if (currentBytes === undefined) return undefined;
    const peakBytes = read(memory.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes');
    const limitBytes = read(memory.version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
    return {
      currentBytes,
      ...(peakBytes !== undefined ? { peakBytes } : {}),
      ...(limitBytes !== undefined ? { limitBytes } : {}),
    };
  }

  /** CPU time of everything that ever ran inside, in microseconds (cpu.stat, always there in v2). */
  cpuUsec(): number | undefined {
    const text = tryRead(join(this.#v2, 'cpu.stat'));
    const match = text && /^usage_usec (\d+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  }

  /** Freezes (true) or thaws (false) every process inside. The kernel finishes freezing asynchronously: see isFrozen(). */
  setFrozen(frozen: boolean): boolean {
    return tryWrite(join(this.#v2, 'cgroup.freeze'), frozen ? '1' : '0');
  }

  isFrozen(): boolean {
    const events = tryRead(join(this.#v2, 'cgroup.events'));
    return events !== undefined && /^frozen 1$/m.test(events);
  }

  /** Removes the directories; false while a process is still inside (rmdir says EBUSY). Idempotent. */
  remove(): boolean {
    if (this.#removed) return true;
    let all = true;
    for (const dir of this.#dirs().reverse()) all = tryRmdir(dir) && all;
    this.#removed = all;
    return all;
  }

  /**
   * remove(), with the rmdirs in libuv's thread pool: tearing a cgroup down is the kernel's
   * costliest step of a stop, and this way it runs beside the event loop, not on it.
   */
  async removeInBackground(): Promise<boolean> {
    if (this.#removed) return true;
    let all = true;
    for (const dir of this.#dirs().reverse()) all = (await rmdirTree(dir)) && all;
    this.#removed ||= all;
    return all;
  }

  #dirs(): string[] {
    const dirs = [this.#v2];
    for (const controller of [this.#cpu, this.#memory]) {
      if (controller && controller.version === 1 && !dirs.includes(controller.dir)) dirs.push(controller.dir);
    }
    return dirs;
  }
}

function tryRead(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when the directory is gone (removed now, or before). Child cgroups first, but only when
 * there are any (rmdir says EBUSY): a task that ran a Supervisor of its own has that supervisor's
 * task cgroups inside its own, left behind if both were killed at once. Listing first every time
 * would cost a stop a directory read of every control file, for a case that is rare.
 */
export function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return false;
  }
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) tryRmdir(join(dir, entry.name));
    }
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** tryRmdir in the thread pool. */
async function rmdirTree(dir: string): Promise<boolean> {
  const gone = async () => {
    await rmdir(dir);
    return true;
  };
  try {
    return await gone();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return false;
  }
  try {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await rmdirTree(join(dir, entry.name));
    }
    return await gone();
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
