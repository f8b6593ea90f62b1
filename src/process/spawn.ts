/**
 * Spawning task processes. Every task process is spawned detached, which on
 * POSIX means setsid(): it becomes the leader of a new session and process
 * group (pgid = pid), so one kill(-pgid) reaches it and all its descendants,
 * and a Ctrl+C aimed at the terminal's group does not reach it behind our back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PRELOAD_ENV, RUNNER_HOST_PATH } from '../common/runner-ipc.js';
import { findProgram } from './path-lookup.js';
import { CHRT_BINARY, setAutogroupNice, usesSchedIdle, type CpuPriority } from './priority.js';
import { CGROUP_PROCS_ENV, enteringCommand } from './cgroup/enter.js';
import type { TaskCgroup } from './cgroup/task-cgroup.js';

const NICE_BINARY = ['/usr/bin/nice', '/bin/nice'].find((path) => existsSync(path));

export interface RunnerSpawnOptions {
  priority: CpuPriority;
  /** The lineage mark [variable, value] (see lineage.ts). */
  mark?: [string, string];
  /** Module URLs to import before saying 'ready' (prewarmed runners). */
  preload?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** The task's cgroup (made, its CPU share set): the process runs inside it from before any task code. */
  cgroup?: TaskCgroup;
}

/** A runner process hosts one module task; it says 'ready' when it can take one. */
export function spawnRunner(options: RunnerSpawnOptions): ChildProcess {
  const { cgroup } = options;
  const [file, args] = withPriority(
    options.priority,
    process.execPath,
    [...runnerExecArgv(), RUNNER_HOST_PATH],
    cgroup,
  );
  const child = spawn(file, args, {
    detached: true,
    cwd: options.cwd,
    env: {
      ...(options.env ?? process.env),
      ...(options.preload?.length ? { [PRELOAD_ENV]: JSON.stringify(options.preload) } : {}),
      ...(cgroup ? { [CGROUP_PROCS_ENV]: JSON.stringify(cgroup.procsFiles) } : {}),
      ...markEnv(options.mark),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  enterAtOnce(child, cgroup);
  applyAutogroup(child, options.priority, cgroup);
  return child;
}

/**
 * Moves a just-spawned process into its cgroup from here as well. It enters by itself before any
 * task code runs (enter.ts), but only once it is scheduled: a stop in between (a kill right after
 * start on a loaded machine) would find the cgroup empty, and cgroup.kill would miss the process
 * that enters it a moment later. From here on the task is the cgroup's, whatever comes next. It
 * also makes a runner's boot run at the task's priority.
 */
function enterAtOnce(child: ChildProcess, cgroup: TaskCgroup | undefined): void {
  if (child.pid === undefined || !cgroup) return;
  try {
    cgroup.enter(child.pid);
  } catch {
    // Already gone: its exit is reported as usual.
  }
}

export interface CommandSpawnOptions {
  command: string;
  args: readonly string[];
  priority: CpuPriority;
  mark?: [string, string];
  env?: Record<string, string>;
  cwd?: string;
  /** The task's cgroup: the program's first instruction already runs inside (enter.ts). */
  cgroup?: TaskCgroup;
}

/** Runs any program, niced like a runner. */
export function spawnCommand(options: CommandSpawnOptions): ChildProcess {
  const { cgroup } = options;
  const env = { ...(options.env ?? process.env), ...markEnv(options.mark) };
  let [file, args] = withPriority(options.priority, options.command, options.args, cgroup);
  if (cgroup) [file, args] = enteringCommand(cgroup.procsFiles, file, args);
  const child = spawn(file, args, { detached: true, cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  enterAtOnce(child, cgroup);
  applyAutogroup(child, options.priority, cgroup);
  return child;
}

/** The session's autogroup share, where priority is not the task cgroup's business. */
function applyAutogroup(child: ChildProcess, priority: CpuPriority, cgroup: TaskCgroup | undefined): void {
  if (child.pid !== undefined && priority.nice > 0 && !cgroup?.hasCpuControl)
    setAutogroupNice(child.pid, priority.nice);
}

/** The lineage mark as an environment entry (see lineage.ts). */
function markEnv(mark: [string, string] | undefined): Record<string, string> {
  return mark ? { [mark[0]]: mark[1] } : {};
}

/**
 * The policy is applied through chrt(1) or nice(1), which exec the program, so that it holds
 * from the first instruction for every thread and child: changing it after spawn would race
 * with the threads Node starts and the children a program forks at once (and on Linux a nice
 * value and a policy are per thread). The session's autogroup is set after spawn (spawn.ts's
 * callers): it covers the whole session at once.
 */
function withPriority(
  priority: CpuPriority,
  file: string,
  args: readonly string[],
  cgroup?: TaskCgroup,
): [string, string[]] {
  // The task's cgroup carries the priority (cpu.idle or a weight): nothing per process.
  if (cgroup?.hasCpuControl) return [file, [...args]];
  if (usesSchedIdle(priority)) return [CHRT_BINARY!, ['--idle', '0', file, ...args]];
  if (priority.nice > 0 && NICE_BINARY)
    return [NICE_BINARY, ['-n', String(Math.min(19, priority.nice)), file, ...args]];
  return [file, [...args]];
}

/**
 * Finds a command the way execvp would, so that "command not found" is a clear error of the
 * task rather than an exit code 127 from nice(1) or chrt(1).
 */
export function resolveCommand(
  command: string,
  env: Record<string, string | undefined>,
  cwd: string,
): string | undefined {
  return findProgram(command, env.PATH, cwd);
}

/**
 * Only flags known to be safe are passed on: a test runner's loader or an
 * inspector port in our own execArgv would break or slow every runner.
 */
function runnerExecArgv(): string[] {
  return process.execArgv.filter((arg) => arg === '--enable-source-maps' || arg.startsWith('--max-old-space-size'));
}
