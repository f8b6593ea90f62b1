/** Queue, prewarm, idempotent operations, progress coalescing, usage, nice, timeouts, escaped descendants. */
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Supervisor, type Progress } from '../../src/index.js';
import { fixture, isAlive, liveInGroup, processes, sleep, waitFor } from '../helpers.js';

const isRunnerHost = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('runner/host.js');
  } catch {
    return false;
  }
};

let sup: Supervisor;
afterEach(async () => {
  await sup?.shutdown();
});

describe('supervisor operations', () => {
  it('runs at most `concurrency` tasks, in FIFO order', async () => {
    sup = new Supervisor({ concurrency: 2, prewarm: 0, stallAfterMs: Infinity });
    const order: string[] = [];
    const tasks = Array.from({ length: 5 }, (_, i) => {
      const t = sup.start({ module: fixture('cooperative'), input: { steps: 3, stepMs: 30 }, name: `t${i}` });
      t.on('state', (s) => {
        if (s.state === 'running') order.push(s.name);
      });
      return t;
    });
    let maxRunning = 0;
    const timer = setInterval(() => {
      maxRunning = Math.max(maxRunning, sup.list().filter((s) => ['starting', 'running'].includes(s.state)).length);
    }, 5);
    const outcomes = await Promise.all(tasks.map((t) => t.done));
    clearInterval(timer);
    expect(outcomes.every((o) => o.state === 'completed')).toBe(true);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(order.slice(0, 2).sort()).toEqual(['t0', 't1']);
    expect(order.indexOf('t2')).toBeLessThan(order.indexOf('t4'));
  });

  it('operations are idempotent and safe in any state', async () => {
    sup = new Supervisor({ prewarm: 0, graceMs: 200 });
    const t = sup.start({ module: fixture('echo') });
    const outcome = await t.done;
    t.cancel();
    t.kill();
    t.cancel();
    expect(t.state).toBe('completed');
    expect(await t.done).toBe(outcome);
    t.restart();
    const second = await t.done;
    expect(second).toMatchObject({ state: 'completed', attempt: 2 });
    expect((second.result as { attempt: number }).attempt).toBe(2);
  });

  it('a prewarmed runner serves a start, and is never reused', async () => {
    sup = new Supervisor({ prewarm: 1 });
    await sup.warm();
    const a = await sup.start({ module: fixture('echo') }).done;
    const b = await sup.start({ module: fixture('echo') }).done;
    expect(a.state).toBe('completed');
    expect((a.result as { pid: number }).pid).not.toBe((b.result as { pid: number }).pid);
  });

  it('progress is coalesced but the final value is never lost', async () => {
    sup = new Supervisor({ prewarm: 0 });
    const t = sup.start({ module: fixture('floods-progress'), input: { total: 200_000 } });
    const seen: Progress[] = [];
    const times: number[] = [];
    t.on('progress', (p) => {
      seen.push(p);
      times.push(performance.now());
    });
    const outcome = await t.done;
    expect(outcome.state).toBe('completed');
    expect(seen.at(-1)).toEqual({ fraction: 1, message: 'update 200000' });
    expect(seen.length).toBeLessThan(200);
    // At most one event per ~50 ms, except the final flush.
    const gaps = times.slice(1, -1).map((t2, i) => t2 - times[i]);
    expect(gaps.filter((g) => g < 40).length).toBeLessThanOrEqual(1);
  });

  it('reports pid, CPU % and RSS of the group, and runs tasks at lower priority', async () => {
    sup = new Supervisor({
      prewarm: 0,
      sampleIntervalMs: 100,
      nice: 10,
      stallAfterMs: Infinity,
      containment: 'process-group',
    });
    const t = sup.start({ module: fixture('silent'), input: { spin: true } });
    // A spinning task at nice 10 gets little CPU next to other work at normal priority (npm run test:stress):
    // any measured CPU proves the sampling; an idle task reads 0.
    await waitFor(() => t.state === 'running' && t.usage && t.usage.cpuPercent > 0.5, 20_000, 'CPU sample');
    expect(t.usage!.rssBytes).toBeGreaterThan(10 * 2 ** 20);
    expect(t.usage!.processes).toBe(1);
    const nice = Number(readFileSync(`/proc/${t.pid}/stat`, 'latin1').split(') ')[1].split(' ')[16]);
    expect(nice).toBe(10);
    t.cancel();
    expect((await t.done).state).toBe('cancelled');
  });

  it('process groups: a stopping task gets its normal priority back for a short window (its autogroup, or its threads where allowed)', async () => {
    sup = new Supervisor({
      prewarm: 0,
      nice: 10,
      graceMs: 20_000,
      stallAfterMs: Infinity,
      containment: 'process-group',
    });
    const t = sup.start({ module: fixture('ignores-cancel') });
    await waitFor(() => t.progress?.message === 'ignoring cancellation', 20_000, 'the task to run');
    const pid = t.pid!;
    const autogroup = () => {
      try {
        return Number(/nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'latin1'))![1]);
      } catch {
        return undefined; // a kernel without autogroups
      }
    };
    const threadNices = () =>
      readdirSync(`/proc/${pid}/task`).map((tid) =>
        Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1').split(') ')[1].split(' ')[16]),
      );
    const before = autogroup();
    if (before !== undefined) expect(before).toBe(10);
    expect(new Set(threadNices())).toEqual(new Set([10]));
    t.cancel(); // ignored: the task stays in 'cancelling' for the grace period
    expect(t.state).toBe('cancelling');
    // Normal priority for a short window (200 ms): polled on every turn of the event loop.
    const restored = () => (before !== undefined ? autogroup() === 0 : threadNices().every((n) => n === 0));
    const canRestore = before !== undefined || process.getuid?.() === 0; // lowering a thread's nice needs root
    if (canRestore) {
      let seen = false;
      for (
        const deadline = Date.now() + 2000;
        !seen && Date.now() < deadline;
        await new Promise((r) => setImmediate(r))
      )
        seen = restored();
      expect(seen).toBe(true);
      // A task that ignores its cancel goes back to its working niceness until it is killed.
      await waitFor(
        () => (before !== undefined ? autogroup() === 10 : threadNices().every((n) => n === 10)),
        5000,
        'nice 10 again after the window',
      );
    }
    t.kill();
    expect((await t.done).state).toBe('killed');
  });

  it('a stop freezes booting runners (SIGSTOP) for at most 250 ms; a start takes a frozen one and it runs', async () => {
    const counterDir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-test-'));
    process.env.SLOW_PRELOAD_COUNTER = path.join(counterDir, 'runners');
    onTestFinished(() => {
      delete process.env.SLOW_PRELOAD_COUNTER; // runners read it when they are spawned: kept until the test ends
      rmSync(counterDir, { recursive: true, force: true });
    });
    const earlier = processes()
      .filter((p) => p.ppid === process.pid)
      .map((p) => p.pid); // other tests' leftovers
    // Normal priority: a SIGSTOP takes effect when its target next runs, and an idle-priority runner on a
    // busy machine may not run within the 250 ms the freeze lasts. What is tested here is the freeze.
    sup = new Supervisor({
      prewarm: 1,
      preload: [fixture('slow-preload')],
      graceMs: 20_000,
      stallAfterMs: Infinity,
      priority: 'normal',
    });
    const frozen = async (what: string) => {
      // Every turn of the event loop, not every 10 ms: the freeze lasts at most 250 ms.
      for (const deadline = Date.now() + 2000; Date.now() < deadline; await new Promise((r) => setImmediate(r)))
        if (stateOf(spare!) === 'T') return;
      throw new Error(`timed out after 2000 ms waiting for ${what}`);
    };
    const stateOf = (pid: number) => processes().find((p) => p.pid === pid)?.state;
    const bootingRunner = (exclude: number[]) =>
      processes().find((p) => p.ppid === process.pid && !exclude.includes(p.pid) && isRunnerHost(p.pid))?.pid;
    await sup.warm(); // the first runner has counted itself: the next one is the slow one
    const a = sup.start({ module: fixture('ignores-cancel') });
    await waitFor(() => a.progress?.message === 'ignoring cancellation', 20_000, 'task a to run');
    let spare: number | undefined;
    await waitFor(() => (spare = bootingRunner([a.pid!, ...earlier])) !== undefined, 10_000, 'the replacement runner');
    expect(stateOf(spare!)).not.toBe('T');

    a.cancel(); // ignored: 'cancelling' for the whole grace period
    await frozen('the booting runner frozen');
    // Bounded: a stop that takes its whole grace period must not keep the pool cold.
    await waitFor(() => stateOf(spare!) !== 'T', 5000, 'the booting runner thawed after the cap');
    expect(a.state).toBe('cancelling');

    a.kill();
    expect((await a.done).state).toBe('killed');
    // Another stop freezes the spare again; a start meanwhile takes it, thawed, and its task runs.
    // It says when its trap is set: a cancel that came before would stop it at once (and end the pause).
    const b = sup.start({
      command: '/bin/sh',
      args: ['-c', 'trap "" TERM; echo \'{"progress": 0.5, "message": "trap set"}\'; sleep 30'],
    });
    await waitFor(() => b.progress?.message === 'trap set', 20_000, 'task b to ignore SIGTERM');
    b.cancel(); // ignored by the shell and its sleep
    await frozen('the booting runner frozen again');
    const c = sup.start({ module: fixture('echo'), input: 'hello' });
    writeFileSync(path.join(path.dirname(process.env.SLOW_PRELOAD_COUNTER), 'release'), ''); // the spare may finish booting now
    expect(await c.done).toMatchObject({ state: 'completed', result: { input: 'hello', pid: spare } });
    b.kill();
    expect((await b.done).state).toBe('killed');
  }, 60_000);

  it('commands report progress with JSON lines; other output is logged', async () => {
    sup = new Supervisor({ prewarm: 0 });
    const t = sup.start({
      command: 'sh',
      args: [
        '-c',
        'echo hello; echo \'{"progress": 0.5, "message": "half"}\'; echo oops >&2; echo \'{"progress": 1}\'',
      ],
    });
    const logs: string[] = [];
    t.on('log', (l) => logs.push(`${l.stream}:${l.line}`));
    const outcome = await t.done;
    expect(outcome.state).toBe('completed');
    expect(t.progress).toEqual({ fraction: 1 });
    await waitFor(() => logs.length >= 2, 2000, 'log lines');
    expect(logs.sort()).toEqual(['stderr:oops', 'stdout:hello']);
  });

  it('output written just before the exit is never lost: the final progress and every line arrive before done', async () => {
    sup = new Supervisor({ prewarm: 0, concurrency: 4 });
    const script =
      'i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; echo \'{"progress": 1, "message": "done"}\'';
    for (let round = 0; round < 3; round++) {
      const tasks = Array.from({ length: 8 }, () => {
        const task = sup!.start({ command: '/bin/sh', args: ['-c', script] });
        const lines: string[] = [];
        task.on('log', (l) => lines.push(l.line));
        return { task, lines };
      });
      for (const { task, lines } of tasks) {
        expect((await task.done).state).toBe('completed');
        expect(task.progress).toEqual({ fraction: 1, message: 'done' });
        expect(lines).toHaveLength(300);
      }
    }
  });

  it('timeoutMs cancels the task with reason timeout', async () => {
    sup = new Supervisor({ prewarm: 0, graceMs: 2000 });
    const outcome = await sup.start({ module: fixture('cooperative'), timeoutMs: 300 }).done;
    expect(outcome).toMatchObject({ state: 'cancelled', stopReason: 'timeout' });
  });

  it('a descendant that called setsid() is still stopped with the task', async () => {
    sup = new Supervisor({ prewarm: 0, sampleIntervalMs: 50, stallAfterMs: Infinity });
    const t = sup.start({ module: fixture('escapes-group') });
    let escaped = 0;
    t.on('log', (l) => {
      const m = /^escaped (\d+)$/.exec(l.line);
      if (m) escaped = Number(m[1]);
    });
    await waitFor(() => escaped && t.progress, 25_000, 'escaped child'); // a cold, niced start on a loaded machine
    await sleep(200); // at least one /proc sample sees it
    const pid = t.pid!;
    t.kill();
    expect((await t.done).state).toBe('killed');
    expect(liveInGroup(pid)).toEqual([]);
    expect(isAlive(escaped)).toBe(false);
  });

  it('stopAll cancels queued tasks without starting them and reports counts', async () => {
    // A grace long enough for the cooperative task to stop even on a loaded CI machine.
    sup = new Supervisor({ concurrency: 2, prewarm: 0, graceMs: 3000 });
    const running = [sup.start({ module: fixture('cooperative') }), sup.start({ module: fixture('sync-loop') })];
    const queued = [sup.start({ module: fixture('echo') }), sup.start({ module: fixture('echo') })];
    await waitFor(() => running.every((t) => t.progress), 10_000, 'both running');
    const result = await sup.stopAll();
    expect(result).toMatchObject({ cancelled: 1, killed: 1, notStarted: 2 });
    for (const t of queued) expect(await t.done).toMatchObject({ state: 'cancelled', stopReason: 'stop-all' });
    expect(queued.every((t) => t.outcome?.exitCode === undefined)).toBe(true);
  });

  it('start() after shutdown throws', async () => {
    sup = new Supervisor({ prewarm: 0 });
    await sup.shutdown();
    expect(() => sup.start({ module: fixture('echo') })).toThrow(/shut down/);
  });
});

describe('preload', () => {
  it('prewarmed runners import the listed modules before a start', async () => {
    sup = new Supervisor({ prewarm: 1, preload: [fixture('preload-probe')] });
    await sup.warm();
    await sleep(400);
    const outcome = await sup.start({ module: fixture('preload-probe') }).done;
    const { loadedAt, runAt } = outcome.result as { loadedAt: number; runAt: number };
    expect(runAt - loadedAt).toBeGreaterThan(300);
    // Without preload the module loads when the task starts.
    const cold = await new Supervisor({ prewarm: 0 }).start({ module: fixture('preload-probe') }).done;
    const c = cold.result as { loadedAt: number; runAt: number };
    expect(c.runAt - c.loadedAt).toBeLessThan(300);
    expect(() => new Supervisor({ preload: [42 as never] })).toThrow(/preload must list module paths/);
  });
});
