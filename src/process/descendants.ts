/**
 * Descendants that left the task's process group (a child that called setsid()
 * or setpgid()). Group signals no longer reach them, so the supervisor
 * remembers them (pid + start time, so a reused pid is never hit) from each
 * /proc sample and signals them with the group.
 *
 * Limit: a process that escapes AND whose parent exits between two samples is
 * re-parented to PID 1 and can no longer be traced to the task. Only cgroups
 * close that gap (see README, limits).
 */
import type { ProcStat } from './proc.js';

/** Children of every pid, built once per /proc scan and shared by all the tasks sampled from it. */
export function childrenByParent(processes: readonly ProcStat[]): Map<number, ProcStat[]> {
  const children = new Map<number, ProcStat[]>();
  for (const p of processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  return children;
}

/** Descendants of `rootPid` (by parent links) that are not in group `pgid`. */
export function escapedDescendants(
  rootPid: number,
  pgid: number,
  processes: readonly ProcStat[],
  children: Map<number, ProcStat[]> = childrenByParent(processes),
): ProcStat[] {
  // Members of the group are roots too: a grandchild whose parent (in the group) already exited
  // has been re-parented away, but its own children still hang below it.
  const result: ProcStat[] = [];
  const seen = new Set<number>();
  const stack = [rootPid, ...processes.filter((p) => p.pgrp === pgid).map((p) => p.pid)];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    for (const child of children.get(pid) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      if (child.pgrp !== pgid && child.state !== 'Z') result.push(child);
      stack.push(child.pid);
    }
  }
  return result;
}
