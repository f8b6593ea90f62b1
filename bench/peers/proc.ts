/**
 * Ground truth about processes, read from Linux /proc, independent of every contender:
 * "gone" means no process with that pid and start time is left, or only its zombie
 * (a zombie runs no code and holds no memory; it counts as gone for every contender alike).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Clock ticks after boot: with the pid it names one process (pids get reused). */
  startTime: number;
}

/** A process as first seen: pid plus start time, so a reused pid is never mistaken for it. */
export interface ProcId {
  pid: number;
  startTime: number;
}

export function readStat(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' ');
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: f[0] ?? '',
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    startTime: Number(f[19]),
  };
}

export function procId(pid: number): ProcId | undefined {
  const stat = readStat(pid);
  return stat && { pid, startTime: stat.startTime };
}

/** True while the very process (same start time) exists and is not a zombie. */
export function isRunning(id: ProcId): boolean {
  const stat = readStat(id.pid);
  return stat !== undefined && stat.startTime === id.startTime && stat.state !== 'Z' && stat.state !== 'X';
}

export function listProcesses(): ProcInfo[] {
  const result: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) result.push(stat);
  }
  return result;
}

/** Every live descendant of root (by parent pid), not root itself. */
export function descendants(root: number, all: ProcInfo[] = listProcesses()): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const result: ProcInfo[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()!) ?? []) {
      if (child.state === 'Z' || child.state === 'X') continue;
      result.push(child);
      stack.push(child.pid);
    }
  }
  return result;
}

/** Resident set size in bytes (VmRSS), 0 if the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const epochNow = () => performance.timeOrigin + performance.now();

/**
 * Waits until none of the processes runs; resolves with the epoch time (ms) that was seen,
 * or undefined when limitMs ran out. Polls /proc on every turn of the event loop for the first
 * 20 ms (sub-millisecond resolution, I/O still served), then every millisecond.
 */
export function waitGone(ids: readonly ProcId[], limitMs: number): Promise<number | undefined> {
  const start = epochNow();
  let pending = [...ids];
  return new Promise((resolve) => {
    const check = () => {
      pending = pending.filter(isRunning);
      const now = epochNow();
      if (pending.length === 0) {
        resolve(now);
        return;
      }
      if (now - start > limitMs) {
        resolve(undefined);
        return;
      }
      if (now - start < 20) setImmediate(check);
      else setTimeout(check, 1);
    };
    check();
  });
}

/** SIGKILL exactly this process if it still runs. Never a group, never pid <= 1, never ourselves. */
export function killExact(id: ProcId): boolean {
  if (!Number.isInteger(id.pid) || id.pid <= 1 || id.pid === process.pid) return false;
  if (!isRunning(id)) return false;
  try {
    process.kill(id.pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU milliseconds of this process and of its children that have been reaped (/proc/self/stat). */
export function cpuTimes(): { selfMs: number; childrenMs: number } {
  const text = readFileSync('/proc/self/stat', 'latin1');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[11..14] are fields 14-17 of proc(5): utime, stime, cutime, cstime.
  const ms = (ticks: number) => (ticks * 1000) / clockTicks();
  return { selfMs: ms(Number(f[11]) + Number(f[12])), childrenMs: ms(Number(f[13]) + Number(f[14])) };
}
