/**
 * Daemon benchmarks: request -> ACK round trip, and event fan-out:
 * N tasks report progress at 100 Hz each while S subscribers listen, with the
 * daemon's CPU use read from /proc/<daemonPid>/stat over the window.
 *
 * The daemon runs in its own process (as in use), the clients in this one.
 * Progress is coalesced twice on its way out, by design: the task's runner
 * sends at most one progress message per 20 ms, the supervisor emits at most
 * one per 50 ms per task. So 100 tasks calling ctx.progress at 100 Hz (10 000
 * calls/s) become at most 2000 TASK_PROGRESS events/s per subscriber; both the
 * emitted and the delivered rates are reported.
 *
 * On a small machine 100 task processes at 100 Hz need more CPU than there is
 * (each runner is a Node process); the daemon, not niced, then competes with
 * them for the cores. The 10-task run shows the delivery at the coalescing
 * limit with CPU to spare; compare the two before blaming the daemon.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../src/daemon/client.js';
import { clockTicksPerSecond } from '../src/process/proc.js';
import type { DaemonEvent } from '../src/protocol/index.js';
import { nowMs, row, type BenchRow } from './lib/stats.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PROGRESS_FIXTURE = fileURLToPath(new URL('../../test/daemon/fixtures/progress-100hz.mjs', import.meta.url));

export interface DaemonBenchOptions {
  roundTrips?: number;
  /** Task counts of the fan-out runs. Default [10, 100]: 10 shows the coalescing limit, 100 the load the promise is for. */
  tasks?: number[];
  subscribers?: number;
  windowMs?: number;
}

export async function runDaemonBench(options: DaemonBenchOptions = {}): Promise<BenchRow[]> {
  const { roundTrips = 1000, tasks = [10, 100], subscribers = 10, windowMs = 5000 } = options;
  const home = mkdtempSync('/tmp/twbench-');
  const daemon = await spawnDaemon(home, Math.max(...tasks));
  try {
    const rows = [await roundTripRow(home, roundTrips)];
    for (const count of tasks) rows.push(...(await fanOutRows(home, daemon.pid, count, subscribers, windowMs)));
    return rows;
  } finally {
    const client = await DaemonClient.connect({ home, autostart: false }).catch(() => undefined);
    await client?.request('SHUTDOWN').catch(() => {});
    await daemon.exited;
    rmSync(home, { recursive: true, force: true });
  }
}

async function spawnDaemon(home: string, concurrency: number): Promise<{ pid: number; exited: Promise<void> }> {
  const child = spawn(
    process.execPath,
    [CLI, '--home', home, 'daemon', '--foreground', '--concurrency', String(concurrency), '--stall-after-ms', '600000'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      output += chunk;
      if (output.includes(' serves ')) resolve();
    });
    child.once('exit', () => reject(new Error(`the daemon exited: ${output}`)));
  });
  return { pid: child.pid!, exited };
}

async function roundTripRow(home: string, runs: number): Promise<BenchRow> {
  const client = await DaemonClient.connect({ home, autostart: false, clientName: 'bench' });
  try {
    for (let i = 0; i < 50; i++) await client.request('LIST'); // warm up
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = nowMs();
      await client.request('LIST');
      samples.push(nowMs() - t0);
    }
    return row('daemon request -> ACK round trip (LIST, idle daemon)', samples, 'ms', {
      note: 'one client, sequential',
    });
  } finally {
    client.close();
  }
}

async function fanOutRows(
  home: string,
  daemonPid: number,
  tasks: number,
  subscribers: number,
  windowMs: number,
): Promise<BenchRow[]> {
  const listeners = await Promise.all(
    Array.from({ length: subscribers }, () =>
      DaemonClient.connect({ home, autostart: false, clientName: 'bench-subscriber' }),
    ),
  );
  const counts = new Array<number>(subscribers).fill(0);
  const calls = new Map<string, number>();
  let running = 0;
  listeners.forEach((client, i) => {
    client.on('event', (event: DaemonEvent) => {
      if (event.type === 'TASK_PROGRESS') {
        counts[i]! += 1;
        if (i === 0) calls.set(event.taskId, Number(/call (\d+)/.exec(event.progress.message ?? '')?.[1] ?? 0));
      } else if (i === 0 && event.type === 'TASK_STATUS' && event.task.state === 'running') running += 1;
    });
  });
  await Promise.all(listeners.map((c) => c.subscribe()));
  const control = listeners[0]!;
  try {
    for (let i = 0; i < tasks; i++) await control.request('TASK_REQUEST', { spec: { module: PROGRESS_FIXTURE } });
    await until(() => running >= tasks && calls.size >= tasks, 120_000, `${tasks} tasks running and reporting`);
    await sleep(1000); // let start-up settle
    const callsAtStart = sum(calls.values());
    const perSecond: number[] = [];
    const cpu: number[] = [];
    const windowStart = nowMs();
    for (let s = 0; s < Math.round(windowMs / 1000); s++) {
      const before = { delivered: sum(counts), ticks: cpuTicks(daemonPid), at: nowMs() };
      await sleep(1000);
      const seconds = (nowMs() - before.at) / 1000;
      perSecond.push((sum(counts) - before.delivered) / seconds);
      cpu.push(((cpuTicks(daemonPid) - before.ticks) / clockTicksPerSecond() / seconds) * 100);
    }
    const emitted = (sum(calls.values()) - callsAtStart) / ((nowMs() - windowStart) / 1000);
    const note = `${tasks} tasks x 100 Hz, ${subscribers} subscribers`;
    return [
      row('progress calls made by the tasks (ctx.progress)', [emitted], 'calls/s', {
        note: `${note}; before coalescing`,
      }),
      row('TASK_PROGRESS delivered, all subscribers', perSecond, 'events/s', {
        note: `${note}; coalesced to <= 20/s per task`,
      }),
      row(
        'TASK_PROGRESS delivered, per subscriber',
        perSecond.map((r) => r / subscribers),
        'events/s',
        { note },
      ),
      row('daemon CPU during the fan-out', cpu, '% of a core', { note }),
    ];
  } finally {
    await control.request('STOP_ALL');
    for (const client of listeners) client.close();
  }
}

function cpuTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(50);
  }
}
