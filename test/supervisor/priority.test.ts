/**
 * The control plane before the work: tasks run at 'idle' priority by default (SCHED_IDLE in an
 * autogroup at nice 19 where the kernel has autogroups, else nice 19), 'low' is nice 10, 'normal'
 * is untouched; per task through spec.priority. Read back from /proc.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Supervisor, type Task } from '../../src/index.js';
import { AUTOGROUPS_EFFECTIVE } from '../../src/process/priority.js';
import { fixture, waitFor } from '../helpers.js';

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** nice (field 19) and policy (field 41) from /proc/<pid>/stat. */
function schedOf(pid: number): { nice: number; policy: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ');
  return { nice: Number(fields[16]), policy: Number(fields[38]) };
}

function autogroupNice(pid: number): number | undefined {
  try {
    return Number(/nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'latin1'))![1]);
  } catch {
    return undefined;
  }
}

/** cpu.idle and cpu.shares of the v1 cpu cgroup the process is in (the root's, before it entered its own). */
function cpuCgroup(pid: number): { idle: number; shares: number } {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'latin1')
    .split('\n')
    .find((l) => /^\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l))!;
  const dir = `/sys/fs/cgroup/cpu${line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1)}`.replace(/\/$/, '');
  return {
    idle: Number(readFileSync(`${dir}/cpu.idle`, 'latin1')),
    shares: Number(readFileSync(`${dir}/cpu.shares`, 'latin1')),
  };
}

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

async function spawned(task: Task): Promise<number> {
  return waitFor(() => task.pid, 20_000, 'the task to be spawned');
}

/** The process's nice, policy and autogroup nice are those given (those that are given). */
function matches(pid: number | undefined, expected: { nice?: number; policy?: number; autogroup?: number }): boolean {
  if (pid === undefined) return false;
  try {
    const { nice, policy } = schedOf(pid);
    return (
      (expected.nice === undefined || nice === expected.nice) &&
      (expected.policy === undefined || policy === expected.policy) &&
      (expected.autogroup === undefined || autogroupNice(pid) === expected.autogroup)
    );
  } catch {
    return false; // gone meanwhile: the caller waits and reports
  }
}

async function running(task: Task): Promise<number> {
  await waitFor(() => task.state === 'running' && task.pid, 20_000, 'the task to run');
  return task.pid!;
}

describe('task CPU priority', () => {
  it("process groups: defaults to 'idle': SCHED_IDLE in a nice-19 autogroup where autogroups work, else nice 19; commands and module tasks alike", async () => {
    // The suite's default is 'normal' (vitest.config.ts); the product's is what is tested here.
    const suiteDefault = process.env.TASKWARDEN_PRIORITY;
    delete process.env.TASKWARDEN_PRIORITY;
    try {
      sup = new Supervisor({ stallAfterMs: Infinity, containment: 'process-group' });
    } finally {
      process.env.TASKWARDEN_PRIORITY = suiteDefault;
    }
    const command = sup.start({ command: 'sleep', args: ['30'] });
    const module = sup.start({ module: fixture('silent') });
    // Read once the process exists, not once it runs: on a busy machine an idle task may wait long
    // for the CPU to boot (which is the point); chrt/nice set the policy before they exec it.
    for (const pid of [await spawned(command), await spawned(module)]) {
      const expected = AUTOGROUPS_EFFECTIVE ? { policy: SCHED_IDLE, autogroup: 19 } : { policy: SCHED_OTHER, nice: 19 };
      await waitFor(() => matches(pid, expected), 20_000, `pid ${pid} at ${JSON.stringify(expected)}`);
    }
    expect(sup.priorityMechanism).toMatch(AUTOGROUPS_EFFECTIVE ? /SCHED_IDLE.*autogroup.*19/ : /nice 19/);
  });

  it("process groups: 'low' is nice 10 and 'normal' leaves the task alone; spec.priority overrides the Supervisor's", async () => {
    sup = new Supervisor({
      priority: 'low',
      stallAfterMs: Infinity,
      prewarm: 1,
      concurrency: 3,
      containment: 'process-group',
    });
    const low = sup.start({ module: fixture('silent') });
    const normal = sup.start({ command: 'sleep', args: ['30'], priority: 'normal' });
    const idle = sup.start({ module: fixture('silent'), priority: 'idle' });
    await waitFor(() => matches(low.pid, { nice: 10, policy: SCHED_OTHER }), 20_000, 'the low task at nice 10');
    await waitFor(
      () => matches(normal.pid, { nice: 0, policy: SCHED_OTHER, ...(AUTOGROUPS_EFFECTIVE ? { autogroup: 0 } : {}) }),
      20_000,
      'the normal task untouched',
    );
    await waitFor(
      () => matches(idle.pid, { policy: AUTOGROUPS_EFFECTIVE ? SCHED_IDLE : SCHED_OTHER }),
      20_000,
      'the idle task at idle',
    );
    expect(sup.priorityMechanism).toMatch(/nice 10/);
  });

  it("cgroups: 'idle' is cpu.idle=1 on the task's own cgroup, 'low' the weight of nice 10, 'normal' untouched; nothing per process", async () => {
    sup = new Supervisor({
      priority: 'low',
      stallAfterMs: Infinity,
      prewarm: 1,
      concurrency: 3,
      containment: 'cgroup',
    });
    const low = sup.start({ module: fixture('silent') });
    const normal = sup.start({ module: fixture('silent'), priority: 'normal' });
    // A command: it enters its cgroup before exec, at our priority, so this holds on a busy machine
    // too, where an idle task may wait long for the CPU to run anything.
    const idle = sup.start({ command: 'sleep', args: ['30'], priority: 'idle' });
    for (const task of [low, normal]) expect(schedOf(await running(task))).toEqual({ nice: 0, policy: SCHED_OTHER });
    expect(cpuCgroup(low.pid!)).toEqual({ idle: 0, shares: 110 });
    expect(cpuCgroup(normal.pid!)).toEqual({ idle: 0, shares: 1024 });
    const idlePid = await running(idle);
    expect(await waitFor(() => cpuCgroup(idlePid).idle === 1, 20_000, 'the idle task in its cgroup')).toBe(true);
    expect(schedOf(idlePid)).toEqual({ nice: 0, policy: SCHED_OTHER });
    expect(sup.priorityMechanism).toMatch(/weight of nice 10 on each task's own cgroup/);
  });

  it('cgroups: a stopping task gets the normal share back for a short window, then its own again while it ignores the stop', async () => {
    // 'low', not 'idle': on a busy machine an idle task may not get the CPU to start at all; the
    // window is the same write either way (the normal share, then the task's own).
    sup = new Supervisor({
      priority: 'low',
      prewarm: 0,
      graceMs: 20_000,
      stallAfterMs: Infinity,
      containment: 'cgroup',
    });
    const t = sup.start({ module: fixture('ignores-cancel') });
    await waitFor(() => t.progress?.message === 'ignoring cancellation', 20_000, 'the task to run');
    const pid = t.pid!;
    expect(cpuCgroup(pid)).toEqual({ idle: 0, shares: 110 });
    t.cancel();
    // Written before cancel() returned: the signal and the share come before anything else.
    expect(cpuCgroup(pid)).toEqual({ idle: 0, shares: 1024 });
    await waitFor(() => cpuCgroup(pid).shares === 110, 5000, 'the weight of nice 10 again after the window');
    t.kill();
    expect((await t.done).state).toBe('killed');
  });

  it('TASKWARDEN_PRIORITY sets the default; a bad value is a TypeError naming the variable', async () => {
    const suiteDefault = process.env.TASKWARDEN_PRIORITY;
    try {
      process.env.TASKWARDEN_PRIORITY = 'low';
      sup = new Supervisor({ prewarm: 0 });
      expect(sup.priorityMechanism).toMatch(/nice 10/);
      const explicit = new Supervisor({ prewarm: 0, priority: 'idle' });
      expect(explicit.priorityMechanism).not.toMatch(/nice 10/);
      await explicit.shutdown();
      process.env.TASKWARDEN_PRIORITY = 'urgent';
      expect(() => new Supervisor({ prewarm: 0 })).toThrow(
        /TASKWARDEN_PRIORITY must be 'idle', 'low', 'normal', got "urgent"/,
      );
    } finally {
      process.env.TASKWARDEN_PRIORITY = suiteDefault;
    }
  });

  it('the legacy nice option still works; a bad priority is a TypeError naming the values', () => {
    sup = new Supervisor({ nice: 5, prewarm: 0 });
    expect(sup.priorityMechanism).toMatch(/nice 5/);
    expect(() => new Supervisor({ priority: 'lowest' as never })).toThrow(
      /priority must be 'idle', 'low', 'normal', got "lowest"/,
    );
    expect(() => sup!.start({ command: 'true', priority: 'high' as never })).toThrow(
      /task spec "priority": must be 'idle', 'low', 'normal', got "high"/,
    );
  });
});
