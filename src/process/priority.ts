/**
 * CPU priority of task processes: niced while they work, so the controlling
 * process stays responsive; back at normal priority while they stop, so a
 * stop is not slowed by the very niceness meant to protect the controller.
 *
 * A dying process still has to be scheduled: to run its cleanup after
 * SIGTERM, and even after SIGKILL each of its threads must run to exit and
 * the last one to tear down the address space. At nice 10 on a busy machine
 * (and with autogroups, where a niced session gets a small fraction of a share)
 * that waits behind everything else, and a kill takes several times as long
 * (npm run bench -- load measures it).
 */
import { existsSync, readFileSync, readdirSync, writeFile, writeFileSync } from 'node:fs';
import os from 'node:os';

const autogroupFile = (pid: number) => `/proc/${pid}/autogroup`;

/**
 * How much CPU tasks may take from the control plane (the supervisor, the daemon, the UI):
 * 'idle' runs only on CPU time nobody else wants, 'low' is nice 10, 'normal' is untouched.
 */
export type Priority = 'idle' | 'low' | 'normal';
export const PRIORITIES: readonly Priority[] = ['idle', 'low', 'normal'];

/** What a spawn applies: a nice value (0-19) for the process and its session's autogroup, and SCHED_IDLE or not. */
export interface CpuPriority {
  readonly nice: number;
  readonly schedIdle: boolean;
}

export function cpuPriority(priority: Priority): CpuPriority {
  if (priority === 'idle') return { nice: 19, schedIdle: true };
  return { nice: priority === 'low' ? 10 : 0, schedIdle: false };
}

/**
 * Autogroups decide the CPU share between sessions only where the kernel has them on and the
 * process sits in the root CPU cgroup (in any other cgroup the cgroup's weight decides).
 */
export const AUTOGROUPS_EFFECTIVE: boolean = (() => {
  try {
    if (readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() !== '1') return false;
    const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const v1 = lines.find((line) => /^\d+:([^:]*,)?cpu(,[^:]*)?:/.test(line));
    if (v1) return v1.endsWith(':/');
    const path = lines.find((line) => line.startsWith('0::'))?.slice(3) ?? '/';
    if (path === '/') return true;
    return !readFileSync(`/sys/fs/cgroup${path}/cgroup.controllers`, 'utf8').split(/\s+/).includes('cpu');
  } catch {
    return false;
  }
})();

/** chrt(1) sets SCHED_IDLE from the first instruction (inherited by every thread and child). */
export const CHRT_BINARY = ['/usr/bin/chrt', '/bin/chrt'].find((path) => existsSync(path));

/**
 * SCHED_IDLE only where autogroups are in force: a stopping task gets its share back through its
 * autogroup (one cheap write), and inside its own autogroup SCHED_IDLE competes only with itself.
 * Elsewhere leaving SCHED_IDLE needs sched_setscheduler, out of Node's reach, so nice 19 it is.
 */
export function usesSchedIdle(priority: CpuPriority): boolean {
  return priority.schedIdle && AUTOGROUPS_EFFECTIVE && CHRT_BINARY !== undefined;
}

/** The mechanism in force on this machine for a priority, in words (diagnostics, `doctor`, the README's promise). */
export function priorityMechanism(priority: CpuPriority): string {
  if (priority.nice === 0 && !priority.schedIdle) return 'normal priority (nothing applied)';
  if (os.platform() !== 'linux') return `nice ${priority.nice}`;
  if (usesSchedIdle(priority)) return `SCHED_IDLE in a session autogroup at nice ${priority.nice}`;
  if (AUTOGROUPS_EFFECTIVE) return `nice ${priority.nice}, session autogroup at nice ${priority.nice}`;
  return `nice ${priority.nice} (no autogroups here: per-process nice only)`;
}

/**
 * With Linux's autogroup scheduling (sched_autogroup_enabled=1, the default on
 * desktops), CPU is shared fairly between sessions first, and a task is a
 * session of its own (setsid): nice(1) inside it then does nothing against the
 * controller, and 100 busy tasks get 100 shares to the controller's one.
 * Setting the autogroup's nice too makes "tasks run niced" hold. Where
 * autogroups do not exist this is a no-op.
 *
 * Limit: without CAP_SYS_ADMIN the kernel accepts one autogroup write per
 * 100 ms, machine-wide (EAGAIN otherwise), so an unprivileged user starting
 * tasks faster than that gets the per-process nice only for some of them.
 */
export function setAutogroupNice(pid: number, nice: number): boolean {
  try {
    writeFileSync(autogroupFile(pid), String(Math.max(0, Math.min(19, nice))));
    return true;
  } catch {
    // No autogroup support, rate-limited, or the process is already gone.
    return false;
  }
}

/**
 * The same as restorePriority, off this thread (libuv's pool): many at once contend for the
 * kernel's autogroup lock, and the event loop must not wait for that. Autogroup only.
 */
export function restorePriorityInBackground(pid: number): void {
  writeFile(autogroupFile(pid), '0', () => {
    // Best effort, as above.
  });
}

/**
 * Puts a task back to its working niceness (raising a nice value is always
 * allowed for one's own processes): a stopping task that keeps running past
 * the priority window must not compete with the controller at full priority.
 */
export function lowerPriority(pid: number, nice: number): void {
  setAutogroupNice(pid, nice);
  forEachThread(pid, (tid) => os.setPriority(tid, nice));
}

/**
 * Gives a stopping task's session its normal share back (autogroup nice 0: a
 * whole session with one write, the owner may lower it down to 0), and the
 * leader's threads their normal nice where we are allowed to (root or
 * RLIMIT_NICE; an ordinary user may not lower a nice value, EACCES, and then
 * the autogroup alone has to do). Best effort: the process may be gone.
 */
export function restorePriority(pid: number): void {
  const viaAutogroup = setAutogroupNice(pid, 0);
  // Inside its own autogroup a task only competes with itself: per-thread nice matters only
  // where autogroups are off (or the write above was rate-limited).
  if (viaAutogroup) return;
  forEachThread(pid, (tid) => os.setPriority(tid, 0));
}

/** Applies `set` to each thread of `pid`; stops at the first refusal (not allowed: no use trying the others). */
function forEachThread(pid: number, set: (tid: number) => void): void {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    threads = [String(pid)];
  }
  for (const tid of threads) {
    try {
      set(Number(tid));
    } catch (error) {
      if ((error as { info?: { code?: string } }).info?.code !== 'ESRCH') return;
    }
  }
}
