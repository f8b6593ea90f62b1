/**
 * Reusable runners (spec.reuse): a runner whose task completed and left nothing behind serves the
 * next task of its kind; after a task that failed, was cancelled or killed, left a grandchild,
 * escaped its group, grew past the memory bound or left an interval, the next task gets a fresh
 * runner. Nothing of one task's ctx reaches the next, no line of its output is taken for the next
 * one's, and a cancel stops only its own task. Under both containments; real processes throughout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor, type Task, type TaskOutcome } from '../../src/index.js';
import { fixture, isAlive, waitFor } from '../helpers.js';

const probe = fixture('reuse-probe');
let nextTag = 7_100 + (process.pid % 89) * 10;
const newTag = () => String(nextTag++);

/** Live processes running `sleep <tag>` (from /proc). */
function sleepers(tag: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (args.includes(tag) && args.some((a) => a.endsWith('sleep')) && isAlive(Number(name)))
        found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

interface Probe {
  pid: number;
  served: number;
  cwd: string;
  mark?: string;
  sameSignalAsBefore: boolean;
  abortedAtStart: boolean;
  previousAborted?: boolean;
}

/** Every pid a task ran in (from its state events). */
function pidsOf(task: Task): number[] {
  const pids: number[] = [];
  task.on('state', (s) => {
    if (s.pid !== undefined && !pids.includes(s.pid)) pids.push(s.pid);
  });
  return pids;
}

function logsOf(task: Task): string[] {
  const lines: string[] = [];
  task.on('log', (l) => lines.push(`${l.stream} ${l.line}`));
  return lines;
}

const result = (outcome: TaskOutcome) => outcome.result as Probe;

for (const containment of ['cgroup', 'process-group'] as const) {
  describe(`reusable runners (${containment})`, () => {
    let sup: Supervisor | undefined;
    const tags: string[] = [];
    afterEach(async () => {
      await sup?.shutdown();
      sup = undefined;
      for (const pid of tags.splice(0).flatMap(sleepers)) process.kill(pid, 'SIGKILL');
    });
    const supervisor = (options: ConstructorParameters<typeof Supervisor>[0] = {}) =>
      (sup = new Supervisor({
        containment,
        concurrency: 1,
        prewarm: 0,
        graceMs: 2000,
        sampleIntervalMs: 600_000,
        ...options,
      }));

    it('a task that completed leaves its runner to the next task of its kind, which gets a fresh ctx, its own lineage mark and cwd', async () => {
      const s = supervisor();
      const dir = mkdtempSync(join(tmpdir(), 'tw-reuse-'));
      try {
        const tasks = [1, 2, 3].map((k) =>
          s.start({ module: probe, input: { mode: 'ok' }, reuse: true, ...(k === 3 ? { cwd: dir } : {}) }),
        );
        const outcomes = await Promise.all(tasks.map((t) => t.done));
        expect(outcomes.map((o) => o.state)).toEqual(['completed', 'completed', 'completed']);
        const [a, b, c] = outcomes.map(result);
        expect(b.pid).toBe(a.pid);
        expect(b.served).toBe(2);
        expect(b.sameSignalAsBefore).toBe(false);
        expect(b.abortedAtStart).toBe(false);
        expect(b.previousAborted).toBe(false);
        // <owner>/<attempt>:<task id>: the owner part is the same, the attempt part is the second task's.
        expect(b.mark).toBe(`${a.mark?.split('/')[0]}/1:${tasks[1].id}`);
        // Another cwd is another kind of runner.
        expect(c.pid).not.toBe(a.pid);
        expect(c.cwd).toBe(dir);
        expect(outcomes[1].exitCode).toBeUndefined();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);

    const replacedAfter: Array<
      [string, (s: Supervisor, tag: string) => Promise<{ first: Task; outcome: TaskOutcome; logs: string[] }>]
    > = [
      [
        'failed',
        async (s) => {
          const first = s.start({ module: probe, input: { mode: 'fail' }, reuse: true });
          return { first, outcome: await first.done, logs: [] };
        },
      ],
      [
        'was cancelled',
        async (s) => {
          const first = s.start({ module: probe, input: { mode: 'wait' }, reuse: true });
          await waitFor(() => first.progress, 30_000, 'the task to run');
          first.cancel();
          return { first, outcome: await first.done, logs: [] };
        },
      ],
      [
        'was killed',
        async (s) => {
          const first = s.start({ module: probe, input: { mode: 'wait' }, reuse: true });
          await waitFor(() => first.progress, 30_000, 'the task to run');
          first.kill();
          return { first, outcome: await first.done, logs: [] };
        },
      ],
      [
        'left a grandchild',
        async (s, tag) => {
          const first = s.start({ module: probe, input: { mode: 'grandchild', tag }, reuse: true });
          const logs = logsOf(first);
          return { first, outcome: await first.done, logs };
        },
      ],
      [
        'escaped its group',
        async (s, tag) => {
          const first = s.start({ module: probe, input: { mode: 'escape', tag }, reuse: true });
          const logs = logsOf(first);
          return { first, outcome: await first.done, logs };
        },
      ],
      [
        'grew past the memory bound',
        async (s) => {
          const first = s.start({ module: probe, input: { mode: 'grow', bytes: 160 * 1024 * 1024 }, reuse: true });
          const logs = logsOf(first);
          return { first, outcome: await first.done, logs };
        },
      ],
      [
        'left an interval',
        async (s) => {
          const first = s.start({ module: probe, input: { mode: 'interval' }, reuse: true });
          const logs = logsOf(first);
          return { first, outcome: await first.done, logs };
        },
      ],
    ];
    const expectedState: Record<string, string> = {
      failed: 'failed',
      'was cancelled': 'cancelled',
      'was killed': 'killed',
    };
    const expectedLog: Record<string, RegExp> = {
      // One process, or two when the shell that started it has not exited yet.
      'left a grandchild': /left [12] process(es)? running: its runner is not reused/,
      'escaped its group': /left [12] process(es)? running: its runner is not reused/,
      'grew past the memory bound': /over runnerMaxRssBytes \(128 MiB\): its runner is not reused/,
      'left an interval': /the task left 1 Timeout active in its runner .*: its runner is not reused/,
    };

    for (const [what, runFirst] of replacedAfter) {
      it(`after a task that ${what}, the next task gets a fresh runner and nothing of the first is left`, async () => {
        const s = supervisor({ runnerMaxRssBytes: 128 * 1024 * 1024 });
        const tag = newTag();
        tags.push(tag);
        const { first, outcome, logs } = await runFirst(s, tag);
        const firstPids = pidsOf(first);
        expect(outcome.state).toBe(expectedState[what] ?? 'completed');
        const firstPid = outcome.state === 'completed' ? result(outcome).pid : undefined;
        const second = s.start({ module: probe, input: { mode: 'ok' }, reuse: true });
        const next = result(await second.done);
        expect(next.served).toBe(1);
        if (firstPid !== undefined) expect(next.pid).not.toBe(firstPid);
        for (const pid of [firstPid, ...firstPids])
          if (pid !== undefined) expect(isAlive(pid), `runner ${pid} of the first task`).toBe(false);
        // What the task left running was stopped with it, before it ended.
        expect(sleepers(tag)).toEqual([]);
        if (expectedLog[what]) expect(logs.join('\n')).toMatch(expectedLog[what]);
      }, 60_000);
    }

    it("nothing of a task's ctx reaches the next task on its runner: late progress, logs and cleanup hooks are dropped", async () => {
      const s = supervisor({ progressIntervalMs: 0 });
      const dir = mkdtempSync(join(tmpdir(), 'tw-reuse-'));
      const file = join(dir, 'notes');
      try {
        const first = s.start({ module: probe, input: { mode: 'late-ctx', afterMs: 100 }, reuse: true });
        const second = s.start({ module: probe, input: { mode: 'sleep', ms: 1500 }, reuse: true });
        const third = s.start({ module: probe, input: { mode: 'wait', file }, reuse: true });
        const secondLogs = logsOf(second);
        const secondProgress: number[] = [];
        second.on('progress', (p) => secondProgress.push(p.fraction));
        const a = result(await first.done);
        const b = result(await second.done);
        expect(b.pid).toBe(a.pid);
        expect(b.sameSignalAsBefore).toBe(false);
        expect(b.previousAborted).toBe(false);
        expect(secondLogs).toEqual([]);
        expect(secondProgress).toEqual([]);
        await waitFor(() => third.progress, 30_000, 'the third task to run');
        third.cancel();
        expect((await third.done).state).toBe('cancelled');
        // Only the cancelled task's own hook ran: none of the tasks before it registered one that counts.
        expect(readFileSync(file, 'utf8')).toBe(`${third.id} cleanup\n`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);

    it("every line of a task's output is its own, the last ones without a newline too; none reaches the next task", async () => {
      const s = supervisor();
      const tasks = [1, 2, 3].map(() => s.start({ module: probe, input: { mode: 'output', lines: 300 }, reuse: true }));
      const logs = tasks.map(logsOf);
      const outcomes = await Promise.all(tasks.map((t) => t.done));
      expect(new Set(outcomes.map((o) => result(o).pid)).size).toBe(1);
      tasks.forEach((task, k) => {
        const expected = [];
        for (let line = 0; line < 300; line++)
          expected.push(`stdout ${task.id} out ${line}`, `stderr ${task.id} err ${line}`);
        expected.push(`stdout ${task.id} out last`, `stderr ${task.id} err last`);
        expect(logs[k].slice().sort()).toEqual(expected.sort());
      });
    }, 60_000);

    it('a cancel of a task on a reused runner stops that task only; the other runner goes on serving', async () => {
      const s = supervisor({ concurrency: 2 });
      const warm = [1, 2].map(() => s.start({ module: probe, input: { mode: 'sleep', ms: 300 }, reuse: true }));
      const warmPids = (await Promise.all(warm.map((t) => t.done))).map((o) => result(o).pid);
      expect(new Set(warmPids).size).toBe(2);
      const doomed = s.start({ module: probe, input: { mode: 'wait' }, reuse: true });
      const survivor = s.start({ module: probe, input: { mode: 'sleep', ms: 1500 }, reuse: true });
      const doomedPids = pidsOf(doomed);
      await waitFor(() => doomed.progress && survivor.state === 'running', 30_000, 'both tasks to run');
      expect(warmPids).toContain(doomed.pid);
      doomed.cancel();
      expect((await doomed.done).state).toBe('cancelled');
      const kept = result(await survivor.done);
      expect(kept.served).toBe(2);
      expect(isAlive(doomedPids[0])).toBe(false);
      const after = result(await s.start({ module: probe, input: { mode: 'ok' }, reuse: true }).done);
      expect(after.pid).toBe(kept.pid);
      expect(after.served).toBe(3);
    }, 60_000);

    it('reuse: N serves at most N tasks per runner', async () => {
      const s = supervisor();
      const outcomes = await Promise.all(
        [1, 2, 3].map(() => s.start({ module: probe, input: { mode: 'ok' }, reuse: 2 }).done),
      );
      const [a, b, c] = outcomes.map(result);
      expect(b.pid).toBe(a.pid);
      expect(c.pid).not.toBe(a.pid);
      expect(c.served).toBe(1);
      await waitFor(() => !isAlive(a.pid), 10_000, 'the runner that served its 2 tasks to exit');
    }, 60_000);

    it('an idle runner ends after runnerIdleMs; shutdown ends the ones still idle', async () => {
      const s = supervisor({ runnerIdleMs: 200 });
      const a = result(await s.start({ module: probe, input: { mode: 'ok' }, reuse: true }).done);
      await waitFor(() => !isAlive(a.pid), 10_000, 'the idle runner to be ended');
      await s.shutdown();
      const t = supervisor();
      const b = result(await t.start({ module: probe, input: { mode: 'ok' }, reuse: true }).done);
      expect(isAlive(b.pid)).toBe(true);
      await t.shutdown();
      await waitFor(() => !isAlive(b.pid), 10_000, 'shutdown to end the idle runner');
    }, 60_000);
  });
}

/** Runner processes of this test process (children running the runner host), from /proc. */
function runnerChildren(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid || fields[0] === 'Z') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes('runner/host.js')) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

describe('a runner that exits after its task', () => {
  it("hands all of the task's output over first: 4 MB printed just before returning, the last lines without a newline", async () => {
    const sup = new Supervisor({ prewarm: 0, sampleIntervalMs: 600_000 });
    try {
      // More than a socket's buffer holds: most of it is still queued in the runner when the task returns.
      const task = sup.start({ module: probe, input: { mode: 'output', lines: 2000, width: 1000 } });
      const logs = logsOf(task);
      expect((await task.done).state).toBe('completed');
      expect(logs).toHaveLength(4002);
      expect(logs).toContain(`stdout ${task.id} out last`);
      expect(logs).toContain(`stderr ${task.id} err last`);
    } finally {
      await sup.shutdown();
    }
  }, 60_000);
});

describe('prewarming for a queued batch', () => {
  it('while tasks wait, as many runners as the next admissions need are booted; once none wait, the pool is back to its size', async () => {
    const sup = new Supervisor({ concurrency: 2, prewarm: 1, sampleIntervalMs: 600_000 });
    try {
      const tasks = Array.from({ length: 6 }, () => sup.start({ module: probe, input: { mode: 'sleep', ms: 1500 } }));
      await waitFor(() => tasks.filter((t) => t.state === 'running').length === 2, 30_000, 'two tasks to run');
      // 2 running + 2 prewarmed for the next two admissions.
      await waitFor(() => runnerChildren().length === 4, 30_000, 'two runners prewarmed beside the two running tasks');
      const outcomes = await Promise.all(tasks.map((t) => t.done));
      expect(outcomes.map((o) => o.state)).toEqual(Array(6).fill('completed'));
      await waitFor(() => runnerChildren().length === 1, 30_000, 'the pool back to its one runner');
    } finally {
      await sup.shutdown();
    }
  }, 90_000);
});

describe('reuse: bad specs', () => {
  it('are refused with the field named', async () => {
    const sup = new Supervisor({ prewarm: 0 });
    try {
      expect(() => sup.start({ command: 'true', reuse: true })).toThrow(/task spec "reuse": goes with "module"/);
      expect(() => sup.start({ module: probe, reuse: 0 })).toThrow(
        /task spec "reuse": must be true, false or the most tasks one runner may serve \(an integer >= 1\), got 0/,
      );
      expect(() => sup.start({ module: probe, reuse: 'yes' as never })).toThrow(/got "yes"/);
    } finally {
      await sup.shutdown();
    }
  });
});
