/**
 * Readers for Linux /proc. They are the ground truth for "is the group empty?",
 * CPU time (stall diagnosis) and RSS. Elsewhere they return empty results and
 * callers fall back to signal-0 probes (see README, platform support).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  /** One-letter state: R running, S sleeping, D disk sleep, Z zombie, T stopped, ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** User + system CPU time in clock ticks. */
  cpuTicks: number;
  /** Start time after boot in clock ticks: with the pid, it identifies a process (pids get reused). */
  startTime: number;
  rssBytes: number;
  /** The kernel's PF_* flags (PF_KTHREAD: a kernel thread). */
  flags: number;
}

export const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

function getconf(name: string, fallback: number): number {
  if (!HAS_PROC) return fallback;
  try {
    const value = Number(
      execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

// Asked lazily: running getconf at import would cost every importer (even a task module) two process spawns.
let clockTicks: number | undefined;
let pageSize: number | undefined;
export function clockTicksPerSecond(): number {
  return (clockTicks ??= getconf('CLK_TCK', 100));
}
function pageBytes(): number {
  return (pageSize ??= getconf('PAGESIZE', 4096));
}

/** Parses /proc/<pid>/stat. The command name may contain spaces and ')' so split at the LAST ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state) of proc(5).
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: fields[0] ?? '',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
    startTime: Number(fields[19]),
    rssBytes: Number(fields[21]) * pageBytes(),
    flags: Number(fields[6]),
  };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

const PF_KTHREAD = 0x00200000;

/** True for a kernel thread: it has no memory of its own, so no environment or command line. */
export function isKernelThread(stat: ProcStat): boolean {
  return (stat.flags & PF_KTHREAD) !== 0;
}

/** The pids /proc lists now (none without /proc). */
export function procPids(): number[] {
  if (!HAS_PROC) return [];
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/**
 * The last pid the kernel handed out (Linux), or undefined where it cannot be read. A process
 * started after this has a larger pid, unless the counter wraps in between (then it is smaller).
 */
export function lastPid(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'latin1'));
  } catch {
    return undefined;
  }
}

/** Every process visible in /proc. Processes that vanish while we read are skipped. */
export function listProcesses(): ProcStat[] {
  const result: ProcStat[] = [];
  for (const pid of procPids()) {
    const stat = readProcStat(pid);
    if (stat) result.push(stat);
  }
  return result;
}

/**
 * The same as listProcesses, a slice of processes per turn of the event loop: a scan of a few
 * hundred processes takes milliseconds, and a daemon must not stop answering for that long.
 * Synchronous reads in slices cost less CPU than one libuv request (and callback) per file.
 */
export async function listProcessesInSlices(perTurn = 32): Promise<ProcStat[]> {
  const result: ProcStat[] = [];
  const pids = procPids();
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % perTurn === 0) await new Promise((resolve) => setImmediate(resolve));
    const stat = readProcStat(pids[i]!);
    if (stat) result.push(stat);
  }
  return result;
}

/** True when the process with this pid is alive, not a zombie, and (if given) started at startTime. */
export function isSameLiveProcess(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}
