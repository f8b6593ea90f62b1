/**
 * The task cgroups of one owner (a Supervisor): named so that whoever comes
 * next can tell whose they are, `taskwarden-<token>-<owner pid>-<owner>-<n>`
 * (<owner> numbers the Supervisors of one process: two of them, even with one
 * token, never share a name or kill each other's cgroups), made
 * directly in our own cgroup of each hierarchy. Flat, not below a common
 * parent: each task's cgroup must be an entity of its own beside the owner for
 * cpu.idle to keep the owner first, and to give a stopping task its normal
 * share back without lifting the others.
 *
 * Leftovers (the owner and its orphan guard both died, a crash between
 * creating and removing) are killed and removed at the next start: every
 * owner sweeps those of dead owners, and the daemon those of its own token.
 */
import { readdirSync } from 'node:fs';
import { runningGuardArguments } from '../guard-registry.js';
import type { CgroupLayout } from './support.js';
import { TaskCgroup } from './task-cgroup.js';

const NAME = /^taskwarden-([A-Za-z0-9_]+)-(\d+)-(\d+)-(\d+)$/;

/** Supervisors made in this process so far. */
let owners = 0;

export class TaskCgroups {
  readonly layout: CgroupLayout;
  /** Every cgroup of this owner starts with it (the orphan guard kills by it). */
  readonly prefix: string;
  #next = 1;

  constructor(layout: CgroupLayout, token: string) {
    this.layout = layout;
    this.prefix = `taskwarden-${token}-${process.pid}-${++owners}-`;
  }

  create(): TaskCgroup {
    return TaskCgroup.create(this.layout, `${this.prefix}${this.#next++}`);
  }

  /** The directories our cgroups are made in: the unified hierarchy's first. */
  get parents(): string[] {
    return cgroupParents(this.layout);
  }
}

function cgroupParents(layout: CgroupLayout): string[] {
  const parents = [layout.v2];
  for (const controller of [layout.cpu, layout.memory]) {
    if (controller?.version === 1 && !parents.includes(controller.parent)) parents.push(controller.parent);
  }
  return parents;
}

export interface SweepResult {
  /** Leftover cgroups that still had processes (now killed). */
  killed: string[];
  /** Leftover directories removed. */
  removed: number;
}

/**
 * Kills and removes leftover task cgroups in our own cgroups: those whose owner process is gone
 * and whose orphan guard is gone too (a live guard does this itself, or was stopped on purpose:
 * a daemon's recovery is then the one to act), and with `token`, every one of that token but ours
 * (a daemon's cgroups after it crashed). Waits up to `waitMs` for killed ones to empty before
 * removing them.
 */
export async function sweepLeftovers(layout: CgroupLayout, token?: string, waitMs = 2000): Promise<SweepResult> {
  const parents = cgroupParents(layout);
  const leftovers = new Set<string>();
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const match = NAME.exec(name);
      if (!match) continue;
      const ownerPid = Number(match[2]);
      if (ownerPid === process.pid) continue;
      if ((token !== undefined && match[1] === token) || !isAlive(ownerPid)) leftovers.add(name);
    }
  }
  if (token === undefined) {
    const guarded = guardedPrefixes([...leftovers].filter((name) => TaskCgroup.at(layout, name).isPopulated()));
    for (const name of leftovers) if (guarded.has(ownerPrefix(name))) leftovers.delete(name);
  }
  const killed = killCgroups(layout, leftovers);
  const deadline = performance.now() + waitMs;
  let removed = 0;
  for (const name of leftovers) {
    const cgroup = TaskCgroup.at(layout, name);
    while (cgroup.isPopulated() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (cgroup.remove()) removed += 1;
  }
  return { killed, removed };
}

/**
 * Synchronous: kills every process in the cgroups of `token` that other owners (a daemon that
 * crashed) left; returns their names. Their removal is sweepLeftovers' (it waits for them to empty).
 */
export function killLeftoverCgroups(layout: CgroupLayout, token: string): string[] {
  let names: string[];
  try {
    names = readdirSync(layout.v2);
  } catch {
    return [];
  }
  return killCgroups(
    layout,
    names.filter((name) => NAME.exec(name)?.[1] === token && NAME.exec(name)?.[2] !== String(process.pid)),
  );
}

function killCgroups(layout: CgroupLayout, names: Iterable<string>): string[] {
  const killed: string[] = [];
  for (const name of names) {
    const cgroup = TaskCgroup.at(layout, name);
    if (cgroup.isPopulated() && cgroup.kill()) killed.push(name);
  }
  return killed;
}

/** `taskwarden-<token>-<pid>-<supervisor>-`: what the owner's orphan guard was given. */
function ownerPrefix(name: string): string {
  return name.slice(0, name.lastIndexOf('-') + 1);
}

/** Of the owners of these cgroups, those whose orphan guard still runs (its command line names their prefix). */
function guardedPrefixes(names: string[]): Set<string> {
  const wanted = new Set(names.map(ownerPrefix));
  if (wanted.size === 0) return new Set();
  const named = runningGuardArguments();
  return new Set([...wanted].filter((prefix) => named.has(prefix)));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
