/**
 * Starting an attempt's process: a command, or a module task on a runner (an idle reusable one
 * of its kind, a prewarmed one from the pool, or a new one), in its own cgroup where there are
 * cgroups, with the task's CPU priority, memory limit and lineage mark; and the run message
 * that hands a runner its task.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { signalGroup } from '../process/group.js';
import { lastPid } from '../process/proc.js';
import type { TaskCgroups } from '../process/cgroup/owner.js';
import type { TaskCgroup } from '../process/cgroup/task-cgroup.js';
import type { LineageMark } from '../process/lineage.js';
import type { CpuPriority } from '../process/priority.js';
import { resolveCommand, spawnCommand, spawnRunner } from '../process/spawn.js';
import type { ToRunner } from '../common/runner-ipc.js';
import { taskError, withCode, type TaskError } from '../common/task-errors.js';
import { removeCgroupWhenEmpty, type IdleRunners } from './idle-runners.js';
import type { RunnerPool } from './runner-pool.js';
import type { TaskRecord } from './task-record.js';
import type { TaskSpec } from './types.js';

export interface SpawnerDeps {
  mark: LineageMark;
  cgroups: TaskCgroups | undefined;
  pool: RunnerPool | undefined;
  idleRunners: IdleRunners;
  /** The priority prewarmed runners run at. */
  poolCpu: CpuPriority;
}

export class AttemptSpawner {
  readonly #deps: SpawnerDeps;

  constructor(deps: SpawnerDeps) {
    this.#deps = deps;
  }

  /** A prewarmed runner has our env and priority: only a module task that wants both can take one. */
  canUsePool(record: TaskRecord): boolean {
    if (record.kind !== 'module' || (record.spec as { env?: unknown }).env !== undefined) return false;
    const cpu = this.#deps.poolCpu;
    return record.cpu.nice === cpu.nice && record.cpu.schedIdle === cpu.schedIdle;
  }

  /** The attempt's process, or the error that says why there is none (a command not found). Throws what spawning threw. */
  spawn(record: TaskRecord): ChildProcess | TaskError {
    return record.kind === 'module' ? this.#spawnModule(record) : this.#spawnCommand(record);
  }

  /** Removes the attempt's cgroup once nothing is inside; retried briefly if the kernel still says busy. */
  releaseCgroup(record: TaskRecord): void {
    const cgroup = record.cgroup;
    if (!cgroup) return;
    record.cgroup = undefined;
    removeCgroupWhenEmpty(cgroup);
  }

  #spawnModule(record: TaskRecord): ChildProcess {
    const spec = record.spec as Extract<TaskSpec, { module: string }>;
    const cwd = spec.cwd ?? process.cwd();
    const module = resolve(cwd, spec.module);
    const mark = this.#markOf(record);
    const key = record.reuseLimit > 1 ? runnerKey(module, cwd, spec.env, record) : undefined;
    const reused = key !== undefined ? this.#deps.idleRunners.take(key) : undefined;
    let child: ChildProcess;
    if (reused) {
      child = reused.child;
      record.cgroup = reused.cgroup;
      reused.served += 1;
      record.runner = reused;
    } else {
      child = this.#newRunner(record, spec, cwd, mark);
      if (key !== undefined && child.pid !== undefined)
        record.runner = { child, pid: child.pid, cgroup: record.cgroup, key, served: 1 };
    }
    if (record.runner) {
      record.release = { endMarker: `taskwarden-end-${randomBytes(12).toString('hex')}`, stdout: false, stderr: false };
      if (!record.cgroup) record.runFloorPid = lastPid();
    }
    const reuse = record.release ? { reuse: { endMarker: record.release.endMarker } } : {};
    const run = {
      t: 'run' as const,
      module,
      input: spec.input,
      taskId: record.id,
      attempt: record.machine.attempt,
      cwd,
      mark,
    };
    try {
      child.send({ ...run, ...reuse } satisfies ToRunner);
    } catch (error) {
      // The IPC serializer refuses what structuredClone took (a SharedArrayBuffer, say): the runner is ours to end.
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      throw withCode(
        'INPUT_NOT_SENDABLE',
        new Error(`its input cannot be sent to the task process (${(error as Error).message}); pass plain data`),
      );
    }
    return child;
  }

  /** A prewarmed runner where the task can use one, else a new one. */
  #newRunner(
    record: TaskRecord,
    spec: Extract<TaskSpec, { module: string }>,
    cwd: string,
    mark: [string, string],
  ): ChildProcess {
    const pooled = this.canUsePool(record) ? this.#deps.pool?.take() : undefined;
    if (!pooled) {
      record.cgroup = this.#newCgroup(record);
      const cgroup = record.cgroup ? { cgroup: record.cgroup } : {};
      return spawnRunner({ priority: record.cpu, env: spec.env, cwd, mark, ...cgroup });
    }
    record.cgroup = pooled.cgroup;
    if (record.cgroup && record.memoryMax !== undefined) record.cgroup.setMemoryMax(record.memoryMax);
    pooled.child.ref();
    (pooled.child.channel as { ref?: () => void } | undefined)?.ref?.();
    return pooled.child;
  }

  #spawnCommand(record: TaskRecord): ChildProcess | TaskError {
    const spec = record.spec as Extract<TaskSpec, { command: string }>;
    const env = spec.env ?? (process.env as Record<string, string>);
    const cwd = spec.cwd ?? process.cwd();
    const file = resolveCommand(spec.command, env, cwd);
    if (!file) {
      return taskError(
        'COMMAND_NOT_FOUND',
        `command not found: ${spec.command} (task ${record.id}): check the name and PATH`,
      );
    }
    record.cgroup = this.#newCgroup(record);
    const cgroup = record.cgroup ? { cgroup: record.cgroup } : {};
    const args = spec.args ?? [];
    return spawnCommand({ command: file, args, priority: record.cpu, env, cwd, mark: this.#markOf(record), ...cgroup });
  }

  /** The attempt's own cgroup, its CPU share and memory limit set, before anything is spawned into it. */
  #newCgroup(record: TaskRecord): TaskCgroup | undefined {
    if (!this.#deps.cgroups) return undefined;
    const cgroup = this.#deps.cgroups.create();
    try {
      cgroup.setCpu(record.cpu);
      if (record.memoryMax !== undefined) cgroup.setMemoryMax(record.memoryMax);
    } catch (error) {
      cgroup.remove();
      throw error;
    }
    return cgroup;
  }

  #markOf(record: TaskRecord): [string, string] {
    return [this.#deps.mark.name, this.#deps.mark.value(record.id, record.machine.attempt)];
  }
}

/** What is fixed in a runner process once it runs: tasks that agree on all of it may share one. */
function runnerKey(module: string, cwd: string, env: Record<string, string> | undefined, record: TaskRecord): string {
  return JSON.stringify([module, cwd, env ?? null, record.cpu.nice, record.cpu.schedIdle, record.memoryMax ?? null]);
}
