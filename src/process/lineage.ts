/**
 * Lineage marks: how a task's processes are found when parent links and
 * process groups no longer lead to them.
 *
 * Every task process is spawned with one environment variable,
 * `TASKWARDEN_OWNER_<token>=<owner>/<attempt>:<task id>` (a prewarmed runner
 * starts with `<owner>/` and sets the rest for its children when it takes a
 * task; `<owner>` is new for each supervisor).
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
/** The owner part of a value (see LineageMark.owner); values written before owners had one lack it. */
const OWNER_PART = /^[0-9a-f]{8}\//;

/** One attempt of one task, as values name it after their owner part. */
export function attemptKey(taskId: string, attempt: number): string {
  return `${attempt}:${taskId}`;
}

export interface MarkedProcess {
  pid: number;
  startTime: number;
}

export class LineageMark {
  /** The environment variable's name: TASKWARDEN_OWNER_<token>. */
  readonly name: string;
  /**
   * This owner's part of every value: the token (and so the name) comes from the state directory,
   * so an owner started there after a crash carries the same name; the guard of the dead one
   * sweeps only values with its own owner part.
   */
  readonly owner = randomBytes(4).toString('hex');

  constructor(token: string = randomBytes(8).toString('hex')) {
    if (!TOKEN_PATTERN.test(token))
      throw new TypeError(`a lineage token must be 1-64 letters, digits or _, got ${JSON.stringify(token)}`);
    this.name = PREFIX + token;
  }

  /** The value that marks one attempt of one task: `<owner>/<attempt>:<task id>`. */
  value(taskId: string, attempt: number): string {
    return `${this.owner}/${attemptKey(taskId, attempt)}`;
  }

  /** The value of a process of this owner that has no task yet (a prewarmed runner). */
  get idleValue(): string {
    return `${this.owner}/`;
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
   * Live marked processes by attempt (`<attempt>:<task id>`), whichever owner of this name marked
   * them: how a new owner of a state directory finds what a dead one left.
   */
  findAllAttempts(): Map<string, MarkedProcess[]> {
    const byAttempt = new Map<string, MarkedProcess[]>();
    for (const [value, found] of this.findAll()) {
      const key = value.replace(OWNER_PART, '');
      const list = byAttempt.get(key);
      if (list) list.push(...found);
      else byAttempt.set(key, found);
    }
    return byAttempt;
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
    const found: Scan = { marked: new Map(), unsettled: [] };
    const needle = Buffer.from(`${this.name}=`);
    const floor = newerThanPid !== undefined && !pidsWrappedSince(newerThanPid) ? newerThanPid : 0;
    const read = new Set<number>();
    // The listing is a snapshot: a process listed but gone (or a zombie) by the time it is read
    // may have forked a child the listing missed (a double fork: setsid, daemon()), and that child
    // carries the lineage on. So list again for what is new, until a round sees nothing go.
    let batch = procPids();
    for (let round = 0; round < MAX_ROUNDS && batch.length > 0; round++) {
      let vanished = false;
      for (const pid of batch) {
        read.add(pid);
        if (pid <= floor || pid === process.pid) continue;
        if (readMark(pid, needle, found) === 'vanished') vanished = true;
      }
      if (!vanished) break;
      batch = procPids().filter((pid) => !read.has(pid));
    }
    return found;
  }
}

/** Rounds of listing /proc in one scan; only a lineage that forks and exits faster than /proc is read exhausts them. */
const MAX_ROUNDS = 16;

interface Scan {
  marked: Map<string, MarkedProcess[]>;
  unsettled: MarkedProcess[];
}

/** Reads one process's mark into `found`; 'vanished' when it is gone or a zombie (its children may be new). */
function readMark(pid: number, needle: Buffer, found: Scan): 'vanished' | undefined {
  const environ = readProcFile(pid, 'environ');
  if (environ === undefined) return 'vanished';
  let value = markValue(environ, needle);
  if (value === undefined && environ.length > 0) return undefined;
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return 'vanished';
  if (value === undefined) {
    if (isKernelThread(stat)) return undefined;
    // Mid-execve (no environment, no command line yet), or its execve ended between the two reads:
    // the kernel sets both up together, so a command line means the environment is there now too.
    if (readProcFile(pid, 'cmdline')?.length === 0) {
      found.unsettled.push({ pid, startTime: stat.startTime });
      return undefined;
    }
    value = markValue(readProcFile(pid, 'environ') ?? environ, needle);
    if (value === undefined) return undefined;
  }
  const list = found.marked.get(value);
  if (list) list.push({ pid, startTime: stat.startTime });
  else found.marked.set(value, [{ pid, startTime: stat.startTime }]);
  return undefined;
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
