/**
 * Cluster benchmarks (issue #13), three agents on this machine as separate processes, a private
 * redis-server on a Unix socket:
 * - stop fan-out: a client's cancel/kill -> the signal reaching the task on its agent (the task's
 *   clock for a cancel; for a kill, the process seen dead by this process), and a kill's first
 *   part: the stop message heard on the control channel (what Redis adds before an agent can act);
 * - the emergency stop of 60 running jobs over the three agents -> every process gone;
 * - an agent SIGKILLed -> its task gone, and the job running again on another agent;
 * - per-job overhead against a plain BullMQ worker running the same command in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { ClusterClient, redisOptions } from '../src/cluster/index.js';
import { ClusterKeys } from '../src/cluster/keys.js';
import { startPrivateRedis, type PrivateRedis } from './lib/redis-server.js';
import { percentile, row, type BenchRow } from './lib/stats.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const worker = (name: string) => fileURLToPath(new URL(`../../bench/cluster-workers/${name}`, import.meta.url));
const LOCK_MS = 2000;
const STALLED_MS = 500;
const GRACE_MS = 1000;

const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

async function spawnReady(name: string, args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!output.includes('ready:')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start:\n${output}`);
    await sleep(20);
  }
  return { name, child, exited };
}

function startAgent(
  redis: PrivateRedis,
  dir: string,
  name: string,
  queue: string,
  concurrency: number,
  priority = process.env.BENCH_PRIORITY ?? 'idle',
): Promise<Proc> {
  return spawnReady(name, [
    CLI,
    '--home',
    `${dir}/${name}`,
    '--queue',
    queue,
    'agent',
    '--redis',
    redis.url,
    '--name',
    name,
    '--concurrency',
    String(concurrency),
    '--lock-duration',
    String(LOCK_MS),
    '--stalled-interval',
    String(STALLED_MS),
    '--grace-ms',
    String(GRACE_MS),
    // As the core bench: tasks at the default priority unless BENCH_PRIORITY says otherwise.
    '--priority',
    priority,
  ]);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Polls until pid is gone (dead or a zombie); returns when, on the wall clock. */
async function untilGone(pid: number, limitMs = 30_000): Promise<number> {
  const start = Date.now();
  while (alive(pid)) {
    if (Date.now() - start > limitMs) throw new Error(`process ${pid} still alive after ${limitMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return wallNow();
}

/** The probe's line "<kind> <taskId> <attempt> <ms>" once it is there. */
async function probeLine(file: string, kind: string, taskId: string, attempt = 1, limitMs = 120_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (existsSync(file)) {
      const line = readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${kind} ${taskId} ${attempt} `));
      if (line) return Number(line.split(' ')[3]);
    }
    if (Date.now() - start > limitMs)
      throw new Error(`no "${kind}" from task ${taskId} attempt ${attempt} within ${limitMs} ms`);
    await sleep(2);
  }
}

async function runningTask(client: ClusterClient, id: string, attempt = 1) {
  for (let i = 0; i < 12_000; i++) {
    const task = await client.get(id);
    if (task.state === 'running' && task.attempt === attempt && task.pid !== undefined) return task;
    await sleep(10);
  }
  throw new Error(`task ${id} never ran`);
}

export async function runClusterBench(runs = 30): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const redis = await startPrivateRedis();
  const dir = mkdtempSync('/tmp/twcb-');
  const procs: Proc[] = [];
  try {
    const queue = 'bench';
    for (const name of ['a1', 'a2', 'a3']) procs.push(await startAgent(redis, dir, name, queue, 20));
    const client = await ClusterClient.connect({ redis: redis.url, queue });
    try {
      rows.push(...(await stopFanOut(client, redis, dir, runs)));
      rows.push(...(await emergencyStop(client, Math.max(3, Math.round(runs / 10)))));
      rows.push(...(await agentDeath(client, redis, dir, queue, procs, Math.max(5, Math.round(runs / 6)))));
    } finally {
      client.close();
    }
    rows.push(...(await overhead(redis, dir, procs, Math.max(50, runs * 2))));
  } finally {
    for (const proc of procs) proc.child.kill('SIGKILL');
    await Promise.all(procs.map((proc) => proc.exited));
    await redis.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

async function stopFanOut(client: ClusterClient, redis: PrivateRedis, dir: string, runs: number): Promise<BenchRow[]> {
  const file = `${dir}/probe.log`;
  const cancel: number[] = [];
  const kill: number[] = [];
  // The first part of a kill's way: the stop message on the control channel, as an agent hears it.
  const heard: number[] = [];
  const listener = new Redis(redisOptions(redis.url, 'bench-control-listener'));
  await listener.subscribe(new ClusterKeys(client.queueName).control);
  let heardAt: number | undefined;
  listener.on('message', (_channel, text: string) => {
    if (heardAt === undefined && text.includes('"type":"stop"')) heardAt = wallNow();
  });
  for (let i = 0; i < runs; i++) {
    const task = await client.submit({ module: worker('probe.mjs'), input: { file } });
    await probeLine(file, 'start', task.id);
    await sleep(20);
    const at = wallNow();
    await client.cancel(task.id);
    cancel.push((await probeLine(file, 'abort', task.id)) - at);
  }
  for (let i = 0; i < runs; i++) {
    const task = await client.submit({ module: worker('probe.mjs'), input: { file } });
    await probeLine(file, 'start', task.id);
    const { pid } = await runningTask(client, task.id);
    await sleep(20);
    heardAt = undefined;
    const at = wallNow();
    const gone = untilGone(pid!);
    await client.kill(task.id);
    kill.push((await gone) - at);
    if (heardAt !== undefined) heard.push(heardAt - at);
  }
  listener.disconnect();
  const target = 'p50 <= 20 ms, p99 <= 100 ms';
  const met = (samples: number[]) => percentile(samples, 50) <= 20 && percentile(samples, 99) <= 100;
  return [
    row('cluster cancel: client call -> abort seen by the task on another agent (task clock)', cancel, 'ms', {
      target,
      met: met(cancel),
    }),
    row('cluster kill: client call -> task process on another agent dead', kill, 'ms', { target, met: met(kill) }),
    row('cluster kill, its first part: client call -> the stop message heard on the control channel', heard, 'ms', {
      note: 'a subscriber in the client process, as an agent hears it',
    }),
  ];
}

async function emergencyStop(client: ClusterClient, runs: number): Promise<BenchRow[]> {
  const cooperative: number[] = [];
  const stubborn: number[] = [];
  for (const [samples, args] of [
    [cooperative, ['-c', 'exec sleep 1000']],
    [stubborn, ['-c', "trap '' TERM; while :; do sleep 1; done"]],
  ] as const) {
    for (let r = 0; r < runs; r++) {
      const tasks = [];
      for (let i = 0; i < 60; i++) tasks.push(await client.submit({ command: '/bin/sh', args: [...args] }));
      const pids = [];
      for (const task of tasks) pids.push((await runningTask(client, task.id)).pid!);
      const result = await client.stopAll();
      const left = pids.filter(alive);
      if (left.length > 0) throw new Error(`the emergency stop resolved with ${left.length} task processes alive`);
      if (result.missing.length > 0) throw new Error(`agents ${result.missing.join(', ')} did not report`);
      samples.push(result.ms);
    }
  }
  return [
    row('emergency stop, 60 running jobs on 3 agents, tasks that stop on SIGTERM -> all gone', cooperative, 'ms', {
      target: `<= grace + 200 ms (${GRACE_MS + 200})`,
      met: Math.max(...cooperative) <= GRACE_MS + 200,
    }),
    row(
      `emergency stop, 60 running jobs on 3 agents, tasks that ignore SIGTERM (grace ${GRACE_MS} ms) -> all gone`,
      stubborn,
      'ms',
      { target: `<= grace + 200 ms (${GRACE_MS + 200})`, met: Math.max(...stubborn) <= GRACE_MS + 200 },
    ),
  ];
}

async function agentDeath(
  client: ClusterClient,
  redis: PrivateRedis,
  dir: string,
  queue: string,
  procs: Proc[],
  runs: number,
): Promise<BenchRow[]> {
  const file = `${dir}/death.log`;
  const gone: number[] = [];
  const rerun: number[] = [];
  for (let r = 0; r < runs; r++) {
    const task = await client.submit({ module: worker('probe.mjs'), input: { file } });
    await probeLine(file, 'start', task.id);
    const first = await runningTask(client, task.id);
    const index = procs.findIndex((proc) => proc.name === first.host);
    const victim = procs[index]!;
    const at = wallNow();
    victim.child.kill('SIGKILL');
    gone.push((await untilGone(first.pid!)) - at);
    rerun.push((await probeLine(file, 'start', task.id, 2, 60_000)) - at);
    await client.kill(task.id);
    await victim.exited;
    procs[index] = await startAgent(redis, dir, victim.name, queue, 20);
  }
  return [
    row('agent SIGKILLed -> its task process gone (the local orphan guard)', gone, 'ms', {
      target: '<= 1000 ms',
      met: Math.max(...gone) <= 1000,
    }),
    row(
      `agent SIGKILLed -> job running again on another agent (lock ${LOCK_MS} ms, stalled check ${STALLED_MS} ms)`,
      rerun,
      'ms',
      { target: `<= lock + 1 s (${LOCK_MS + 1000})`, met: Math.max(...rerun) <= LOCK_MS + 1000 },
    ),
  ];
}

async function overhead(redis: PrivateRedis, dir: string, procs: Proc[], runs: number): Promise<BenchRow[]> {
  // The same job as the plain worker's: its child runs at normal priority, so this task does too.
  procs.push(await startAgent(redis, dir, 'solo', 'overhead-tw', 1, 'normal'));
  procs.push(await spawnReady('plain', [worker('plain-worker.mjs'), redis.socket, 'overhead-plain', '1']));
  const connection = { path: redis.socket, maxRetriesPerRequest: null };
  const client = await ClusterClient.connect({ redis: redis.url, queue: 'overhead-tw' });
  const plainQueue = new Queue('overhead-plain', { connection });
  const twEvents = new QueueEvents('overhead-tw', { connection });
  const plainEvents = new QueueEvents('overhead-plain', { connection });
  await Promise.all([twEvents.waitUntilReady(), plainEvents.waitUntilReady()]);
  const completion = (events: QueueEvents, jobId: string) =>
    new Promise<number>((resolve, reject) => {
      const onCompleted = ({ jobId: id }: { jobId: string }) => {
        if (id !== jobId) return;
        events.off('completed', onCompleted);
        events.off('failed', onFailed);
        resolve(wallNow());
      };
      const onFailed = ({ jobId: id, failedReason }: { jobId: string; failedReason: string }) =>
        id === jobId && reject(new Error(`job ${id} failed: ${failedReason}`));
      events.on('completed', onCompleted);
      events.on('failed', onFailed);
    });
  const tw: number[] = [];
  const plain: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = wallNow();
      const task = await client.submit({ command: '/bin/true' });
      tw.push((await completion(twEvents, task.jobId!)) - t0);
      const p0 = wallNow();
      const job = await plainQueue.add('true', { command: '/bin/true' });
      plain.push((await completion(plainEvents, job.id!)) - p0);
    }
  } finally {
    client.close();
    await Promise.all([plainQueue.close(), twEvents.close(), plainEvents.close()]);
  }
  const extra = percentile(tw, 50) - percentile(plain, 50);
  return [
    row('one job, add -> completed (QueueEvents): taskwarden agent, /bin/true as a task', tw, 'ms', {
      note: `+${extra.toFixed(1)} ms at p50 over the plain worker`,
    }),
    row('one job, add -> completed (QueueEvents): plain BullMQ worker, /bin/true in a child process', plain, 'ms'),
  ];
}
