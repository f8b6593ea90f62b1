/**
 * Samples CPU and memory of every running task. A task in a cgroup is read
 * from it: CPU time and memory of everything inside, escaped or not, exact and
 * without walking /proc. A task held by its process group is sampled from
 * /proc, one scan per tick for all such tasks; the same scan finds
 * descendants that left their group (setsid), so stops can still reach them.
 */
import { clockTicksPerSecond, HAS_PROC, listProcessesInSlices, readProcStat } from '../process/proc.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';
import { childrenByParent, escapedDescendants } from '../process/descendants.js';
import type { ResourceUsage } from './types.js';

const CGROUPS_PER_TURN = 8;

export interface SampleTarget {
  id: string;
  pid: number;
  cgroup?: TaskCgroup;
}

export interface SamplerOptions {
  intervalMs: number;
  targets: () => SampleTarget[];
  onSample: (id: string, usage: ResourceUsage, escaped: ReadonlyArray<{ pid: number; startTime: number }>) => void;
}

export class UsageSampler {
  /** CPU seconds and when they were read, per task. */
  readonly #previous = new Map<string, { cpuSeconds: number; at: number }>();
  readonly #timer: NodeJS.Timeout;
  #sampling = false;

  constructor(private readonly options: SamplerOptions) {
    this.#timer = setInterval(() => void this.sampleNow(), options.intervalMs);
    // Sampling must never keep a program alive on its own.
    this.#timer.unref();
  }

  /** One round, a slice per turn of the event loop, so requests and stops are served meanwhile. */
  async sampleNow(): Promise<void> {
    if (this.#sampling || this.options.targets().length === 0 || !HAS_PROC) return;
    this.#sampling = true;
    let processes;
    try {
      await this.#sampleCgroups();
      if (this.options.targets().every((target) => target.cgroup)) return;
      processes = await listProcessesInSlices();
    } finally {
      this.#sampling = false;
    }
    const targets = this.options.targets().filter((target) => !target.cgroup); // as they are now: one may have ended during the scan
    const children = childrenByParent(processes);
    const now = performance.now();
    for (const { id, pid } of targets) {
      let ticks = 0;
      let rssBytes = 0;
      let count = 0;
      let runnable = false;
      for (const p of processes) {
        if (p.pgrp !== pid || p.state === 'Z') continue;
        if (p.state === 'R') runnable = true;
        ticks += p.cpuTicks;
        rssBytes += p.rssBytes;
        count += 1;
      }
      const { cpuPercent, windowMs } = this.#cpuOver(id, ticks / clockTicksPerSecond(), now);
      const escaped = escapedDescendants(pid, pid, processes, children).map((p) => ({
        pid: p.pid,
        startTime: p.startTime,
      }));
      this.options.onSample(
        id,
        { cpuPercent, rssBytes, processes: count, sampledAt: Date.now(), windowMs, runnable },
        escaped,
      );
    }
  }

  /**
   * Every task in a cgroup, CGROUPS_PER_TURN at a time: each costs a handful of small reads, and
   * fifty tasks in one go would hold a daemon's request (or a stop's exit) back by milliseconds.
   * A task that ended between slices is skipped.
   */
  async #sampleCgroups(): Promise<void> {
    const ids = this.options
      .targets()
      .filter((target) => target.cgroup)
      .map((target) => target.id);
    for (let start = 0; start < ids.length; start += CGROUPS_PER_TURN) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      const slice = new Set(ids.slice(start, start + CGROUPS_PER_TURN));
      for (const target of this.options.targets()) {
        if (target.cgroup && slice.has(target.id)) this.#sampleCgroup(target, target.cgroup);
      }
    }
  }

  /** A few small reads: the cgroup's CPU time and memory, and the state of the processes inside. */
  #sampleCgroup(target: SampleTarget, cgroup: TaskCgroup): void {
    const cpuUsec = cgroup.cpuUsec();
    if (cpuUsec === undefined) return; // removed meanwhile
    const pids = cgroup.pids();
    let runnable = false;
    let rssBytes = 0;
    for (const pid of pids) {
      const stat = readProcStat(pid);
      if (!stat) continue;
      if (stat.state === 'R') runnable = true;
      rssBytes += stat.rssBytes;
    }
    const memory = cgroup.memory();
    const { cpuPercent, windowMs } = this.#cpuOver(target.id, cpuUsec / 1e6, performance.now());
    this.options.onSample(
      target.id,
      {
        cpuPercent,
        // The cgroup's own count includes page cache the task caused; the processes' resident sets are what top shows.
        rssBytes,
        processes: pids.length,
        sampledAt: Date.now(),
        windowMs,
        runnable,
        ...(memory?.peakBytes !== undefined ? { memoryPeakBytes: memory.peakBytes } : {}),
        ...(memory?.limitBytes !== undefined && memory.limitBytes < Number.MAX_SAFE_INTEGER / 2
          ? { memoryLimitBytes: memory.limitBytes }
          : {}),
      },
      [],
    );
  }

  /** CPU percent of one core since the previous sample of this task (0 for its first). */
  #cpuOver(id: string, cpuSeconds: number, now: number): { cpuPercent: number; windowMs: number } {
    const previous = this.#previous.get(id);
    this.#previous.set(id, { cpuSeconds, at: now });
    if (!previous || now <= previous.at) return { cpuPercent: 0, windowMs: 0 };
    return {
      cpuPercent: Math.max(0, (cpuSeconds - previous.cpuSeconds) / ((now - previous.at) / 1000)) * 100,
      windowMs: now - previous.at,
    };
  }

  forget(id: string): void {
    this.#previous.delete(id);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
