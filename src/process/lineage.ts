/**
 * Lineage marks: how a task's processes are found when parent links and
 * process groups no longer lead to them.
 *
 * Every task process is spawned with one environment variable,
 * `TASKWARDEN_OWNER_<token>=<attempt>:<task id>` (a prewarmed runner starts
 * with an empty value and sets it for its children when it takes a task).
 * Every descendant inherits it unless it replaces its environment, and
 * /proc/<pid>/environ shows it, so a process that called setsid() or
 * setpgid(), was orphaned between two /proc samples, or was being spawned in
 * the instant its owner died is still found: by the orphan guard (every task
 * of its owner), at the end of every stop (one attempt) and by the daemon's
 * recovery (the attempts a dead daemon left). Jenkins' ProcessTreeKiller finds
 * a build's processes by an environment cookie the same way.
 *
 * One variable per owner, named by the owner's token, so the marks of nested
 * supervisors (a task that runs a Supervisor) add up instead of replacing each
 * other.
 *
 * Limits: a process that replaces its environment (`env -i`, sudo, a program
 * that scrubs it) drops the mark; another user's processes cannot be read
 * unless we are root. A cgroup per task has neither limit.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isKernelThread, procPids, readProcStat } from './proc.js';

const PREFIX = 'TASKWARDEN_OWNER_';
const TOKEN_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

export interface MarkedProcess {
  pid: number;
  startTime: number;
}

export class LineageMark {
  /** The environment variable's name: TASKWARDEN_OWNER_<token>. */
  readonly name: string;

  constructor(token: string = randomBytes(8).toString('hex')) {
    if (!TOKEN_PATTERN.test(token))
      throw new TypeError(`a lineage token must be 1-64 letters, digits or _, got ${JSON.stringify(token)}`);
    this.name = PREFIX + token;
  }

  /** The value that marks one attempt of one task. */
  static valueOf(taskId: string, attempt: number): string {
    return `${attempt}:${taskId}`;
  }

  /**
   * Live processes carrying this mark, by mark value, in one pass over /proc. With
   * `newerThanPid`, only pids allocated after it are read (a task's processes are all younger
   * than its leader), unless the pid counter wrapped since: then every process is read.
   */
  findAll(newerThanPid?: number): Map<string, MarkedProcess[]> {
    return this.#scan(newerThanPid).marked;
  }

  /**
   * One attempt's marked processes (see findAll), and the processes whose mark cannot be read
   * yet: in the middle of an execve, after the new program's memory replaced the old but before
   * the kernel set its environment up, /proc shows neither environment nor command line. A task
   * that spawns and returns at once can be checked in exactly that instant, and a busy machine can
   * hold the new process there for milliseconds. Callers look again a moment later.
   */
  findAttempt(value: string, newerThanPid?: number): { marked: MarkedProcess[]; unsettled: MarkedProcess[] } {
    const { marked, unsettled } = this.#scan(newerThanPid);
    return { marked: marked.get(value) ?? [], unsettled };
  }

  #scan(newerThanPid: number | undefined): { marked: Map<string, MarkedProcess[]>; unsettled: MarkedProcess[] } {
    const marked = new Map<string, MarkedProcess[]>();
    const unsettled: MarkedProcess[] = [];
    const needle = Buffer.from(`${this.name}=`);
    const floor = newerThanPid !== undefined && !pidsWrappedSince(newerThanPid) ? newerThanPid : 0;
    for (const pid of procPids()) {
      if (pid <= floor || pid === process.pid) continue;
      const environ = readProcFile(pid, 'environ');
      if (environ === undefined) continue;
      const value = markValue(environ, needle);
      if (value === undefined && environ.length > 0) continue;
      const stat = readProcStat(pid);
      if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
      const found = { pid, startTime: stat.startTime };
      if (value !== undefined) {
        const list = marked.get(value);
        if (list) list.push(found);
        else marked.set(value, [found]);
      } else if (!isKernelThread(stat) && readProcFile(pid, 'cmdline')?.length === 0) {
        unsettled.push(found);
      }
    }
    return { marked, unsettled };
  }
}

/** A /proc/<pid> file, or undefined when the process is gone or not ours to read. */
function readProcFile(pid: number, name: 'environ' | 'cmdline'): Buffer | undefined {
  try {
    return readFileSync(`/proc/${pid}/${name}`);
  } catch {
    return undefined;
  }
}

/** The value of the variable `needle` names in a process's initial environment, or undefined. */
function markValue(environ: Buffer, needle: Buffer): string | undefined {
  for (let at = environ.indexOf(needle); at >= 0; at = environ.indexOf(needle, at + 1)) {
    if (at > 0 && environ[at - 1] !== 0) continue; // inside another variable's value
    const end = environ.indexOf(0, at);
    return environ.toString('utf8', at + needle.length, end < 0 ? environ.length : end);
  }
  return undefined;
}

/** True when the kernel's last allocated pid is below `pid`: the counter wrapped after it was given out. */
function pidsWrappedSince(pid: number): boolean {
  try {
    return Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'latin1')) < pid;
  } catch {
    return true; // unknown: read everything
  }
}
