/**
 * Samples CPU and memory of every running task's process group from /proc,
 * one scan of /proc per tick for all tasks. The same scan finds descendants
 * that left their group (setsid), so stops can still reach them.
 */
import { clockTicksPerSecond, HAS_PROC, listProcessesInSlices } from '../process/proc.js';
import { childrenByParent, escapedDescendants } from '../process/descendants.js';
import type { ResourceUsage } from './types.js';

export interface SamplerOptions {
  intervalMs: number;
  targets: () => Array<{ id: string; pid: number }>;
  onSample: (id: string, usage: ResourceUsage, escaped: ReadonlyArray<{ pid: number; startTime: number }>) => void;
}

export class UsageSampler {
  readonly #previous = new Map<string, { ticks: number; at: number }>();
  readonly #timer: NodeJS.Timeout;
  #sampling = false;

  constructor(private readonly options: SamplerOptions) {
    this.#timer = setInterval(() => void this.sampleNow(), options.intervalMs);
    // Sampling must never keep a program alive on its own.
    this.#timer.unref();
  }

  /** One scan, a slice per turn of the event loop, so requests are served meanwhile. */
  async sampleNow(): Promise<void> {
    if (this.#sampling || this.options.targets().length === 0 || !HAS_PROC) return;
    this.#sampling = true;
    let processes;
    try {
      processes = await listProcessesInSlices();
    } finally {
      this.#sampling = false;
    }
    const targets = this.options.targets(); // as they are now: one may have ended during the scan
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
      const previous = this.#previous.get(id);
      this.#previous.set(id, { ticks, at: now });
      const cpuPercent = previous && now > previous.at
        ? Math.max(0, ((ticks - previous.ticks) / clockTicksPerSecond()) / ((now - previous.at) / 1000)) * 100
        : 0;
      const escaped = escapedDescendants(pid, pid, processes, children).map((p) => ({ pid: p.pid, startTime: p.startTime }));
      const windowMs = previous ? now - previous.at : 0;
      this.options.onSample(id, { cpuPercent, rssBytes, processes: count, sampledAt: Date.now(), windowMs, runnable }, escaped);
    }
  }

  forget(id: string): void {
    this.#previous.delete(id);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
