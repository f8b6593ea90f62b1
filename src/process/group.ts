/**
 * Process-group operations. Every task leads its own group (spawned detached,
 * so setsid() made it a session and group leader); every signal goes to the
 * whole group so children and grandchildren stop with the task.
 */
import { HAS_PROC, lastPid, listProcesses, procPids, readProcStat, type ProcStat } from './proc.js';

export type GroupSignal = 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP' | 'SIGSTOP' | 'SIGCONT';

/** Sends a signal to every process of the group. Returns false if the group no longer exists. */
export function signalGroup(pgid: number, signal: GroupSignal): boolean {
  assertGroupId(pgid);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Live (non-zombie) members of a group. Zombies are excluded: once a member's
 * parent is gone it is re-parented to PID 1, and in containers PID 1 may never
 * reap it; a zombie holds no resources and runs no code, so it counts as gone.
 */
export function liveGroupMembers(pgid: number, processes: readonly ProcStat[] = listProcesses()): ProcStat[] {
  return processes.filter((p) => p.pgrp === pgid && p.state !== 'Z' && p.state !== 'X');
}

/**
 * Live members of the group other than `pgid` itself that were born after `floorPid` (the last pid
 * handed out when their leader's current work began): a few /proc reads instead of every process's,
 * unless the pid counter wrapped since (then every process is read).
 */
export function newGroupMembers(pgid: number, floorPid: number): number[] {
  const last = lastPid();
  const floor = last !== undefined && last >= floorPid ? floorPid : 0;
  const members: number[] = [];
  for (const pid of procPids()) {
    if (pid <= floor || pid === pgid) continue;
    const stat = readProcStat(pid);
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') members.push(pid);
  }
  return members;
}

/** True when no live process is left in the group. */
export function isGroupEmpty(pgid: number): boolean {
  assertGroupId(pgid);
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    // ESRCH: no process at all in the group, the fast and common answer.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
    // EPERM: members exist that we may not signal; they are not ours to wait for.
    if ((error as NodeJS.ErrnoException).code === 'EPERM') return false;
    throw error;
  }
  return HAS_PROC ? liveGroupMembers(pgid).length === 0 : false;
}

function assertGroupId(pgid: number): void {
  // kill(-0) or kill(-1) would signal our own group or every process we may signal.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new RangeError(`invalid process group id ${pgid}`);
}
