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

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

async function running(task: Task): Promise<number> {
  await waitFor(() => task.state === 'running' && task.pid, 20_000, 'the task to run');
  return task.pid!;
}

describe('task CPU priority', () => {
  it("defaults to 'idle': SCHED_IDLE in a nice-19 autogroup where autogroups work, else nice 19; commands and module tasks alike", async () => {
    // The suite's default is 'normal' (vitest.config.ts); the product's is what is tested here.
    const suiteDefault = process.env.TASKWARDEN_PRIORITY;
    delete process.env.TASKWARDEN_PRIORITY;
    try {
      sup = new Supervisor({ stallAfterMs: Infinity });
    } finally {
      process.env.TASKWARDEN_PRIORITY = suiteDefault;
    }
    const command = sup.start({ command: 'sleep', args: ['30'] });
    const module = sup.start({ module: fixture('silent') });
    for (const pid of [await running(command), await running(module)]) {
      const { nice, policy } = schedOf(pid);
      if (AUTOGROUPS_EFFECTIVE) {
        expect(policy).toBe(SCHED_IDLE);
        expect(autogroupNice(pid)).toBe(19);
      } else {
        expect(policy).toBe(SCHED_OTHER);
        expect(nice).toBe(19);
      }
    }
    expect(sup.priorityMechanism).toMatch(AUTOGROUPS_EFFECTIVE ? /SCHED_IDLE.*autogroup.*19/ : /nice 19/);
  });

  it("'low' is nice 10 and 'normal' leaves the task alone; spec.priority overrides the Supervisor's", async () => {
    sup = new Supervisor({ priority: 'low', stallAfterMs: Infinity, prewarm: 1, concurrency: 3 });
    const low = sup.start({ module: fixture('silent') });
    const normal = sup.start({ command: 'sleep', args: ['30'], priority: 'normal' });
    const idle = sup.start({ module: fixture('silent'), priority: 'idle' });
    expect(schedOf(await running(low))).toEqual({ nice: 10, policy: SCHED_OTHER });
    expect(schedOf(await running(normal))).toEqual({ nice: 0, policy: SCHED_OTHER });
    if (AUTOGROUPS_EFFECTIVE) expect(autogroupNice(normal.pid!)).toBe(0);
    expect(schedOf(await running(idle)).policy).toBe(AUTOGROUPS_EFFECTIVE ? SCHED_IDLE : SCHED_OTHER);
    expect(sup.priorityMechanism).toMatch(/nice 10/);
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
      expect(() => new Supervisor({ prewarm: 0 })).toThrow(/TASKWARDEN_PRIORITY must be 'idle', 'low', 'normal', got "urgent"/);
    } finally {
      process.env.TASKWARDEN_PRIORITY = suiteDefault;
    }
  });

  it('the legacy nice option still works; a bad priority is a TypeError naming the values', () => {
    sup = new Supervisor({ nice: 5, prewarm: 0 });
    expect(sup.priorityMechanism).toMatch(/nice 5/);
    expect(() => new Supervisor({ priority: 'lowest' as never })).toThrow(/priority must be 'idle', 'low', 'normal', got "lowest"/);
    expect(() => sup!.start({ command: 'true', priority: 'high' as never })).toThrow(/task spec "priority" must be 'idle', 'low', 'normal'/);
  });
});
