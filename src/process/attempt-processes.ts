/**
 * Every process of one attempt of a task, and the OS work on all of them: its leader's process
 * group, the descendants that left the group (setsid: "escapees", each known by pid and start
 * time so a reused pid is never signalled), those found later by the attempt's lineage mark, and
 * its cgroup where it has one (the kernel's own answer, escapees included). Signals, freezing,
 * "is anything of it left?" and watching until nothing is, and the synchronous kill for process exit.
 */
import { isGroupEmpty, newGroupMembers, signalGroup } from './group.js';
import type { LineageMark } from './lineage.js';
import { isSameLiveProcess, readProcStat } from './proc.js';
import type { TaskCgroup } from './cgroup/task-cgroup.js';

type StopSignal = 'SIGTERM' | 'SIGKILL';

/** How long a process whose lineage mark cannot be read yet (mid-execve) may stay so and still be waited for. */
export const UNSETTLED_WAIT_MS = 1000;

export class AttemptProcesses {
  /** The leader's pid, which is also its group id. */
  readonly pgid: number;
  readonly #mark: LineageMark;
  readonly #markValue: string;
  /** The attempt's cgroup as it is now (it is released once empty). */
  readonly #cgroup: () => TaskCgroup | undefined;
  /** Descendants that left the group, by pid -> start time. */
  readonly #escapees = new Map<number, number>();
  /** The strongest signal this attempt was sent: lineage strays found later get the same. */
  #lastSignal: StopSignal | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #stopCgroupWatch: (() => void) | undefined;

  constructor(pgid: number, mark: LineageMark, markValue: string, cgroup: () => TaskCgroup | undefined) {
    this.pgid = pgid;
    this.#mark = mark;
    this.#markValue = markValue;
    this.#cgroup = cgroup;
  }

  /** Processes that left the group, seen by the usage sampler. */
  addEscapees(escaped: ReadonlyArray<{ pid: number; startTime: number }>): void {
    for (const e of escaped) this.#escapees.set(e.pid, e.startTime);
  }

  signal(signal: StopSignal): void {
    if (this.#lastSignal !== 'SIGKILL') this.#lastSignal = signal;
    const cgroup = this.#cgroup();
    if (cgroup) return this.#signalCgroup(cgroup, signal);
    signalGroup(this.pgid, signal);
    // What left the group since the last sample (a child forked from a SIGTERM handler, say) is
    // found by its lineage mark once the group is gone (isGone) and sent this too.
    for (const [pid, startTime] of this.#escapees) {
      // Never signal a reused pid: check the start time first.
      if (!isSameLiveProcess(pid, startTime) || !signalProcess(pid, signal)) this.#escapees.delete(pid);
    }
  }

  /** cgroup.freeze where the attempt has a cgroup; else SIGSTOP/SIGCONT to its group and known escapees. */
  freeze(frozen: boolean): void {
    if (this.#cgroup()?.setFrozen(frozen)) return;
    const signal = frozen ? 'SIGSTOP' : 'SIGCONT';
    signalGroup(this.pgid, signal);
    for (const [pid, startTime] of this.#escapees) if (isSameLiveProcess(pid, startTime)) signalProcess(pid, signal);
  }

  /**
   * Whether anything of the attempt is left: nothing (`gone`), something (`left`), or only
   * processes whose mark cannot be read yet (`unsettled`: one of them may be ours, mid-execve).
   */
  #presence(): 'gone' | 'left' | 'unsettled' {
    // The kernel's own answer, escapees included.
    const cgroup = this.#cgroup();
    if (cgroup) return cgroup.isPopulated() ? 'left' : 'gone';
    if (!isGroupEmpty(this.pgid)) return 'left';
    for (const [pid, startTime] of this.#escapees) {
      if (isSameLiveProcess(pid, startTime)) return 'left';
      this.#escapees.delete(pid);
    }
    // The group and every escapee seen are gone: is anything left that carries the attempt's mark
    // (it left the group and was orphaned between two samples)? Only younger pids are read.
    const { marked, unsettled } = this.#mark.findAttempt(this.#markValue, this.pgid);
    this.#adoptStrays(marked);
    if (marked.length > 0) return 'left';
    return unsettled.length > 0 ? 'unsettled' : 'gone';
  }

  /**
   * After the leader exits: `gone` once nothing of the attempt is left, and `lingering` once when
   * something still was at the first look. The cgroup says when it empties (cgroup.events); no OS
   * event says a group emptied, so it is polled too, quickly at first (with a cgroup, the safety
   * net). A process whose mark cannot be read yet is looked at again, for a bounded time: past
   * it, it is not ours (it would have shown its environment by then).
   */
  watchUntilGone(on: { lingering: () => void; gone: () => void }): void {
    let delay = 1;
    let reportedLingering = false;
    let unsettledSince: number | undefined;
    const check = () => {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
      const presence = this.#presence();
      const now = Date.now();
      if (presence === 'unsettled') unsettledSince ??= now;
      if (presence === 'gone' || (presence === 'unsettled' && now - (unsettledSince ?? now) > UNSETTLED_WAIT_MS)) {
        this.stopWatching();
        on.gone();
        return;
      }
      const cgroup = this.#cgroup();
      if (cgroup && !this.#stopCgroupWatch) this.#stopCgroupWatch = cgroup.watchEmpty(check);
      if (presence === 'left' && !reportedLingering) {
        reportedLingering = true;
        on.lingering();
      }
      this.#pollTimer = setTimeout(check, delay);
      delay = Math.min(delay * 2, 25);
    };
    check();
  }

  stopWatching(): void {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#stopCgroupWatch?.();
    this.#stopCgroupWatch = undefined;
  }

  /**
   * Live processes of the attempt other than its leader born after `floorPid`: in its group or
   * escaped from it, or marked with its lineage (process-group containment; a reused runner is
   * old, and reading every process since its birth would cost more with each task). `unsettled`:
   * younger processes whose mark cannot be read yet (mid-execve); look again in a moment.
   */
  othersBornAfter(floorPid: number): { others: number; unsettled: number } {
    const members = new Set(newGroupMembers(this.pgid, floorPid));
    for (const [pid, startTime] of this.#escapees) if (isSameLiveProcess(pid, startTime)) members.add(pid);
    const { marked, unsettled } = this.#mark.findAttempt(this.#markValue, floorPid);
    for (const { pid } of marked) members.add(pid);
    members.delete(this.pgid);
    return { others: members.size, unsettled: unsettled.filter(({ pid }) => !members.has(pid)).length };
  }

  /** SIGKILL to everything known, synchronously (process 'exit'); the orphan guard sweeps the marks after. */
  killNow(): void {
    this.#cgroup()?.kill();
    for (const pid of [-this.pgid, ...this.#escapees.keys()]) signalProcess(pid, 'SIGKILL');
  }

  /**
   * SIGKILL: cgroup.kill, atomic for everything inside. SIGTERM: the group, then whatever inside
   * has left it (setsid, setpgid), read from cgroup.procs; each process gets it once.
   */
  #signalCgroup(cgroup: TaskCgroup, signal: StopSignal): void {
    // The group too, whatever the cgroup says: a process between spawn and entering its cgroup is
    // in the group only (spawn.ts moves it in at once, this is the second line).
    if (signal === 'SIGKILL') cgroup.kill();
    signalGroup(this.pgid, signal);
    if (signal === 'SIGKILL') return;
    for (const pid of cgroup.pids()) {
      if (pid === this.pgid || readProcStat(pid)?.pgrp === this.pgid) continue;
      signalProcess(pid, signal);
    }
  }

  /** Marked processes outside the group become escapees: waited for, and sent the signal the attempt already got. */
  #adoptStrays(strays: ReadonlyArray<{ pid: number; startTime: number }>): void {
    for (const { pid, startTime } of strays) {
      if (this.#escapees.get(pid) === startTime) continue;
      this.#escapees.set(pid, startTime);
      if (this.#lastSignal) signalProcess(pid, this.#lastSignal);
    }
  }
}

/** Sends a signal to one process (a negative pid: a group); false when it is gone or not ours. */
function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
