/** Shared test helpers: fixture paths, /proc checks, polling with generous bounds. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isSameLiveProcess, listProcesses, readProcStat, type ProcStat } from '../src/process/proc.js';

export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}.mjs`, import.meta.url));
}

/** Every process, as the supervisor itself reads them (one /proc/<pid>/stat parser: src/process/proc.ts). */
export function processes(): ProcStat[] {
  return listProcesses();
}

/** Live (non-zombie) processes in a process group, read from /proc. */
export function liveInGroup(pgid: number): ProcStat[] {
  return processes().filter((p) => p.pgrp === pgid && p.state !== 'Z' && p.state !== 'X');
}

/**
 * A process a test started, named by pid and start time: `kill()` signals it only while that pid
 * is still it. A test's cleanup that kills by pid alone can hit another test's process once the
 * pid is reused (pid_max may be 32768, and a busy suite wraps it).
 */
export function ownProcess(pid: number): { pid: number; kill: () => void } {
  const startTime = readProcStat(pid)?.startTime;
  return {
    pid,
    kill: () => {
      if (startTime === undefined || !isSameLiveProcess(pid, startTime)) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    },
  };
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  return isSameLiveProcess(pid);
}

export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what: string | (() => string) = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The registry file an orphan guard reads at the end: the argument after its $0 ("" in pipe mode). */
export function guardRegistry(guardPid: number): string {
  const args = readFileSync(`/proc/${guardPid}/cmdline`, 'utf8').split('\0');
  return args[args.indexOf('taskwarden-guard') + 1] ?? '';
}
