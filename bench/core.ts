/**
 * Core benchmarks: kill, cooperative cancel, escalation overshoot,
 * cold and prewarmed start, restart. Real processes, p50/p99 over many runs.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Supervisor, type Task } from '../src/index.js';
import { nowMs, percentile, row, type BenchRow } from './lib/stats.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/${name}.mjs`, import.meta.url));

function untilState(task: Task, state: string): Promise<number> {
  return new Promise((resolve) => {
    const listener = (s: { state: string }) => {
      if (s.state === state) {
        task.off('state', listener);
        resolve(nowMs());
      }
    };
    task.on('state', listener);
  });
}

/** Waits until the pool holds a booted, preloaded runner, so every sample measures a prewarmed start. */
async function untilWarm(sup: Supervisor): Promise<void> {
  await sup.warm();
  // A runner that just said 'ready' may still be finishing its own start-up work (GC, JIT): let it settle.
  await new Promise((r) => setTimeout(r, 20));
}

export async function runCoreBench(runs = 100): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sup = new Supervisor({
    prewarm: 1,
    graceMs: 3000,
    stallAfterMs: Infinity,
    concurrency: 4,
    priority: (process.env.BENCH_PRIORITY ?? 'idle') as 'idle' | 'low' | 'normal',
  });
  try {
    const kill: number[] = [];
    const cancel: number[] = [];
    const warmStart: number[] = [];
    const restart: number[] = [];
    for (let i = 0; i < runs; i++) {
      await untilWarm(sup);
      const t0 = nowMs();
      const task = sup.start({ module: fixture('silent') });
      warmStart.push((await untilState(task, 'running')) - t0);
      const k0 = nowMs();
      task.kill();
      await task.done;
      kill.push(nowMs() - k0);
    }
    for (let i = 0; i < runs; i++) {
      await untilWarm(sup);
      const task = sup.start({ module: fixture('silent') });
      await untilState(task, 'running');
      const c0 = nowMs();
      task.cancel();
      const outcome = await task.done;
      if (outcome.state !== 'cancelled') throw new Error(`cooperative cancel ended ${outcome.state}`);
      cancel.push(nowMs() - c0);
    }
    for (let i = 0; i < runs; i++) {
      await untilWarm(sup);
      const task = sup.start({ module: fixture('silent') });
      await untilState(task, 'running');
      await untilWarm(sup);
      const r0 = nowMs();
      const running2 = untilState(task, 'running');
      task.restart();
      restart.push((await running2) - r0);
      task.kill();
      await task.done;
    }
    rows.push(
      row('kill (call -> reaped, group empty)', kill, 'ms', { target: 'p50 <= 3 ms', met: pct(kill, 50) <= 3 }),
    );
    rows.push(
      row('graceful cancel, cooperative task', cancel, 'ms', { target: 'p50 <= 15 ms', met: pct(cancel, 50) <= 15 }),
    );
    rows.push(
      row('prewarmed start (start() -> task code running)', warmStart, 'ms', {
        target: 'p50 <= 5 ms',
        met: pct(warmStart, 50) <= 5,
      }),
    );
    rows.push(
      row('restart (call -> attempt 2 running)', restart, 'ms', {
        target: 'p50 <= 10 ms',
        met: pct(restart, 50) <= 10,
      }),
    );
  } finally {
    await sup.shutdown();
  }
  rows.push(await preloadedStart(runs));
  rows.push(await escalationOvershoot(runs));
  rows.push(await coldStart(Math.max(20, Math.floor(runs / 2))));
  rows.push(...(await machineFloor(runs)));
  return rows;
}

/** Prewarmed runners that also preloaded the task module (the `preload` option): the fastest start. */
async function preloadedStart(runs: number): Promise<BenchRow> {
  const sup = new Supervisor({
    prewarm: 1,
    preload: [fixture('silent')],
    stallAfterMs: Infinity,
    priority: (process.env.BENCH_PRIORITY ?? 'idle') as 'idle' | 'low' | 'normal',
  });
  const samples = await startLatencies(sup, runs, () => untilWarm(sup));
  return row('prewarmed start, task module preloaded (option preload)', samples, 'ms', {
    target: 'p50 <= 5 ms',
    met: pct(samples, 50) <= 5,
  });
}

/** start() -> task code running, `runs` times; then the supervisor is shut down. */
async function startLatencies(
  sup: Supervisor,
  runs: number,
  beforeEach: () => Promise<void> = async () => {},
): Promise<number[]> {
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await beforeEach();
      const t0 = nowMs();
      const task = sup.start({ module: fixture('silent') });
      samples.push((await untilState(task, 'running')) - t0);
      task.kill();
      await task.done;
    }
  } finally {
    await sup.shutdown();
  }
  return samples;
}

/**
 * What the machine itself allows, measured the same way without taskwarden: a message to an
 * idle Node process and back (the floor of any start or cancel), and SIGKILL of an idle Node
 * process until its exit is reaped (the floor of any kill). On a VM an idle vCPU takes
 * milliseconds to wake, which no code of ours can remove.
 */
async function machineFloor(runs: number): Promise<BenchRow[]> {
  const rtt: number[] = [];
  const kill: number[] = [];
  for (let i = 0; i < runs; i++) {
    const child = spawn(
      process.execPath,
      ['-e', "process.on('message', (m) => process.send(m)); process.send('ready');"],
      {
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
        serialization: 'advanced',
        detached: true,
      },
    );
    await new Promise((r) => child.once('message', r));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = nowMs();
    child.send('ping');
    await new Promise((r) => child.once('message', r));
    rtt.push(nowMs() - t0);
    await new Promise((r) => setTimeout(r, 20));
    const exited = new Promise((r) => child.once('exit', r));
    const k0 = nowMs();
    child.kill('SIGKILL');
    await exited;
    kill.push(nowMs() - k0);
  }
  return [
    row('floor: IPC round trip to an idle bare Node process', rtt, 'ms', { note: 'no taskwarden' }),
    row('floor: SIGKILL of an idle bare Node process -> reaped', kill, 'ms', { note: 'no taskwarden' }),
  ];
}

async function escalationOvershoot(runs: number): Promise<BenchRow> {
  const graceMs = 100;
  const sup = new Supervisor({ prewarm: 2, graceMs, stallAfterMs: Infinity });
  const overshoot: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await untilWarm(sup);
      const task = sup.start({ module: fixture('ignores-cancel') });
      await untilState(task, 'running');
      const c0 = nowMs();
      task.cancel();
      const outcome = await task.done;
      if (outcome.state !== 'killed') throw new Error(`escalation ended ${outcome.state}`);
      overshoot.push(nowMs() - c0 - graceMs);
    }
  } finally {
    await sup.shutdown();
  }
  return row(`escalation overshoot beyond graceMs (${graceMs} ms)`, overshoot, 'ms', {
    target: 'done within graceMs + 25 ms',
    met: pct(overshoot, 99) <= 25,
  });
}

async function coldStart(runs: number): Promise<BenchRow> {
  const samples = await startLatencies(new Supervisor({ prewarm: 0, stallAfterMs: Infinity }), runs);
  return row('cold start (no prewarm; start() -> task code running)', samples, 'ms', { note: 'Node start-up' });
}

function pct(samples: number[], p: number): number {
  return percentile(samples, p);
}
