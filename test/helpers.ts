/** Shared test helpers: fixture paths, /proc checks, polling with generous bounds. */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}.mjs`, import.meta.url));
}

interface Proc { pid: number; ppid: number; pgrp: number; state: string; comm: string }

export function processes(): Proc[] {
  const result: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'latin1');
      const close = text.lastIndexOf(')');
      const f = text.slice(close + 2).split(' ');
      result.push({ pid: Number(name), comm: text.slice(text.indexOf('(') + 1, close), state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]) });
    } catch {
      // vanished
    }
  }
  return result;
}

/** Live (non-zombie) processes in a process group, read from /proc. */
export function liveInGroup(pgid: number): Proc[] {
  return processes().filter((p) => p.pgrp === pgid && p.state !== 'Z' && p.state !== 'X');
}

export function isAlive(pid: number): boolean {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The registry file an orphan guard reads at the end: the argument after its $0 ("" in pipe mode). */
export function guardRegistry(guardPid: number): string {
  const args = readFileSync(`/proc/${guardPid}/cmdline`, 'utf8').split('\0');
  return args[args.indexOf('taskwarden-guard') + 1] ?? '';
}
