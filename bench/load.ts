/**
 * Under load: the stop still lands at once. With 50 CPU-bound tasks on the machine's cores, each
 * figure side by side with the same figure on an idle machine and the machine's floor (a bare
 * process doing the same), in the same run:
 *  - kill() call -> the task process dead (read from /proc by a separate thread), with and without
 *    a 500 ms listener on every event (target: p99 with it <= 1.2x without), one that blocks
 *    asleep (slow I/O: the target's case) and one that spins (it also takes one of the cores);
 *  - kill and cooperative cancel, call -> settled (target: p50 within 1.5x of idle);
 *  - daemon request -> ACK round trip (target: p99 <= 5 ms);
 *  - owner SIGKILLed -> every task process and descendant gone (target: max <= 1 s over 20 runs);
 *  - the terminal UI's keypress -> frame (bench/tui.ts, target p99 <= 16 ms).
 * The busy tasks run at the default priority ('idle'); the control plane does not. Each row says
 * which containment was in force (a cgroup per task with cpu.idle, or process groups with
 * SCHED_IDLE in autogroups: TASKWARDEN_CGROUPS=off).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { DaemonClient } from '../src/daemon/client.js';
import { socketPath } from '../src/daemon/home.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { Supervisor, type SupervisorEvent, type Task } from '../src/index.js';
import type { Priority } from '../src/process/priority.js';
import { nowMs, percentile, row, type BenchRow } from './lib/stats.js';
import { keypressLatency } from './tui.js';
import { automaticContainment } from '../src/process/cgroup/support.js';
import { shutDownBenchDaemon } from './lib/daemon.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/${name}.mjs`, import.meta.url));
const cliPath = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BUSY_TASKS = 50;
const SPIN = ['-c', 'while :; do :; done'];

/**
 * Watches one pid at a time from its own thread, so that a main thread blocked in a listener does
 * not delay the observation: resolves with the ms from `startedAt` until /proc shows it dead.
 */
class DeathWatch {
  readonly #worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { readFileSync } = require('node:fs');
     const dead = (pid) => { try { const s = readFileSync('/proc/' + pid + '/stat', 'latin1'); const st = s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3); return st === 'Z' || st === 'X'; } catch { return true; } };
     const nap = new Int32Array(new SharedArrayBuffer(4));
     parentPort.on('message', ({ pid }) => {
       // Every 0.1 ms, sleeping in between: a watcher that spun would take a core from the dying process.
       while (!dead(pid)) Atomics.wait(nap, 0, 0, 0.1);
       parentPort.postMessage({ at: Number(process.hrtime.bigint()) / 1e6 });
     });`,
    { eval: true },
  );

  /** Call right before the stop; the returned promise settles when the process is dead. */
  watch(pid: number): Promise<number> {
    return new Promise((resolve) => {
      this.#worker.once('message', ({ at }: { at: number }) => resolve(at));
      this.#worker.postMessage({ pid });
    });
  }

  close(): Promise<number> {
    return this.#worker.terminate();
  }
}

/**
 * How a slow listener holds the supervisor's thread: 'asleep' blocks it in the kernel without
 * using a CPU (a journal write on a slow disk, a lock), 'spinning' keeps a CPU busy the whole
 * time (slow synchronous computation), which on a 2-core machine also takes one of the two
 * cores the dying task could have used.
 */
type ListenerKind = 'none' | 'asleep' | 'spinning';
const LISTENER_MS = 500;
/** Older than a task whose start the listeners held up (each of its first events blocks twice). */
const KILL_AT_AGE_MS = 4000;
const napCell = new Int32Array(new SharedArrayBuffer(4));

function blockFor(ms: number, kind: ListenerKind): void {
  if (kind === 'asleep') {
    Atomics.wait(napCell, 0, 0, ms);
    return;
  }
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // slow synchronous work
  }
}

async function running(task: Task): Promise<number> {
  for (let i = 0; i < 6000 && !(task.state === 'running' && task.pid); i++) await sleep(5);
  if (!task.pid) throw new Error(`task ${task.id} never ran`);
  return task.pid;
}

/** kill(): call -> dead (/proc, other thread), optionally with a blocking listener on every event. */
async function killToDead(sup: Supervisor, watch: DeathWatch, kind: ListenerKind): Promise<number> {
  // Blocks on every event of the measured task (the busy tasks' usage events would block forever).
  let target = '';
  const listener = (event: SupervisorEvent) => {
    const id =
      event.type === 'state'
        ? event.task.id
        : 'taskId' in event
          ? event.taskId
          : event.type === 'log'
            ? event.log.taskId
            : '';
    if (id === target) blockFor(LISTENER_MS, kind);
  };
  if (kind !== 'none') sup.on('event', listener);
  try {
    const startedAt = nowMs();
    const task = sup.start({ module: fixture('sync-loop'), priority: 'idle' });
    target = task.id;
    if (kind !== 'none') task.on('state', () => blockFor(LISTENER_MS, kind));
    await running(task);
    while (!task.progress) await sleep(5); // in its loop
    const pid = task.pid!;
    const dead = watch.watch(pid);
    // Killed at the same age with or without listeners (theirs hold the start up by seconds): how
    // long a task has spun at idle priority changes how soon the scheduler lets it run to exit.
    await sleep(Math.max(5, startedAt + KILL_AT_AGE_MS - nowMs())); // and the watcher is polling
    const t0 = nowMs();
    task.kill();
    const ms = (await dead) - t0;
    await task.done;
    return ms;
  } finally {
    sup.off('event', listener);
  }
}

/**
 * The kill() figures compared by the target, taken in turn (a run of each, the order rotating
 * every round) so that all see the same moments of the machine: on a busy VM the floor moves by
 * several times within a minute, and blocks measured one after the other compare the moments,
 * not the listener.
 */
async function killsBesideListeners(
  sup: Supervisor,
  watch: DeathWatch,
  runs: number,
): Promise<Record<ListenerKind, number[]>> {
  const samples: Record<ListenerKind, number[]> = { none: [], asleep: [], spinning: [] };
  const kinds: ListenerKind[] = ['none', 'asleep', 'spinning'];
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(i + k) % kinds.length]!;
      samples[kind].push(await killToDead(sup, watch, kind));
    }
  }
  return samples;
}

/** The floor: SIGKILL of a bare spinning process -> dead, seen by the same watcher. */
async function floorKillToDead(watch: DeathWatch, runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const child = spawn('/bin/sh', SPIN, { stdio: 'ignore', detached: true });
    await sleep(20);
    const dead = watch.watch(child.pid!);
    await sleep(5);
    const t0 = nowMs();
    process.kill(-child.pid!, 'SIGKILL');
    samples.push((await dead) - t0);
    await new Promise((r) =>
      child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r),
    );
  }
  return samples;
}

/**
 * The floor of the two below: a bare Node process (no taskwarden), stuck in a loop and SIGKILLed,
 * or exiting on SIGTERM, until its parent sees 'exit'.
 */
async function floorStopToExit(runs: number): Promise<{ kill: number[]; cancel: number[] }> {
  const stopped = async (code: string, signal: NodeJS.Signals) => {
    const child = spawn(process.execPath, ['-e', `${code}; process.stdout.write('ready')`], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    await sleep(20);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const t0 = nowMs();
    child.kill(signal);
    await exited;
    return nowMs() - t0;
  };
  const kill: number[] = [];
  const cancel: number[] = [];
  for (let i = 0; i < runs; i++) {
    kill.push(await stopped('setTimeout(() => { for (;;); }, 10)', 'SIGKILL'));
    cancel.push(await stopped("process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)", 'SIGTERM'));
  }
  return { kill, cancel };
}

/** kill (sync loop) and cooperative cancel, call -> settled. */
async function stopToSettled(
  sup: Supervisor,
  runs: number,
  priority: Priority = 'idle',
): Promise<{ kill: number[]; cancel: number[] }> {
  const kill: number[] = [];
  const cancel: number[] = [];
  for (let i = 0; i < runs; i++) {
    const stuck = sup.start({ module: fixture('sync-loop'), priority });
    await running(stuck);
    while (!stuck.progress) await sleep(5);
    let t0 = nowMs();
    stuck.kill();
    await stuck.done;
    kill.push(nowMs() - t0);
    const polite = sup.start({ module: fixture('silent'), priority });
    await running(polite);
    await sleep(20);
    t0 = nowMs();
    polite.cancel();
    const outcome = await polite.done;
    if (outcome.state !== 'cancelled') throw new Error(`cooperative cancel ended ${outcome.state}`);
    cancel.push(nowMs() - t0);
  }
  return { kill, cancel };
}

function startBusy(sup: Supervisor): Task[] {
  return Array.from({ length: BUSY_TASKS }, () => sup.start({ command: '/bin/sh', args: SPIN, name: 'busy' }));
}

async function inProcess(runs: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const watch = new DeathWatch();
  const sup = new Supervisor({ concurrency: BUSY_TASKS + 4, prewarm: 1, graceMs: 3000, stallAfterMs: Infinity });
  try {
    const measure = async (label: string) => {
      const floor = await floorKillToDead(watch, runs);
      const { none: plain, asleep: slow, spinning } = await killsBesideListeners(sup, watch, runs);
      const stops = await stopToSettled(sup, runs);
      // The same stops of a task that worked at normal priority: what idle priority costs a stop.
      const normal = await stopToSettled(sup, runs, 'normal');
      const floorStops = await floorStopToExit(runs);
      return { label, floor, plain, slow, spinning, ...stops, normal, floorStops };
    };
    const idle = await measure('idle machine');
    const busyTasks = startBusy(sup);
    await Promise.all(busyTasks.map(running));
    await sleep(1000);
    const busy = await measure(`${BUSY_TASKS} CPU-bound tasks`);
    for (const task of busyTasks) task.kill();
    await Promise.all(busyTasks.map((t) => t.done));

    for (const m of [idle, busy]) {
      rows.push(
        row(`load: floor, SIGKILL of a bare spinning process -> dead, ${m.label}`, m.floor, 'ms', {
          note: 'what the machine allows',
        }),
      );
      rows.push(row(`load: kill() -> process dead (/proc), ${m.label}`, m.plain));
      const slowP99 = percentile(m.slow, 99);
      const plainP99 = percentile(m.plain, 99);
      rows.push(
        row(
          `load: kill() -> process dead, a 500 ms listener (blocked asleep) on every event, ${m.label}`,
          m.slow,
          'ms',
          {
            target: 'p99 <= 1.2x without the listener',
            met: slowP99 <= 1.2 * plainP99 || slowP99 <= plainP99 + 1,
            note: `${(slowP99 / plainP99).toFixed(2)}x`,
          },
        ),
      );
      rows.push(
        row(`load: kill() -> process dead, a 500 ms listener (spinning) on every event, ${m.label}`, m.spinning, 'ms', {
          note: `${(percentile(m.spinning, 99) / plainP99).toFixed(2)}x; it holds one of the cores`,
        }),
      );
    }
    const ratio = (a: number[], b: number[]) => percentile(a, 50) / percentile(b, 50);
    for (const m of [idle, busy]) {
      rows.push(
        row(`load: floor, SIGKILL of a bare Node process in a loop -> exit seen, ${m.label}`, m.floorStops.kill, 'ms', {
          note: 'what the machine allows',
        }),
      );
      rows.push(
        row(
          `load: floor, SIGTERM to a bare Node process that exits on it -> exit seen, ${m.label}`,
          m.floorStops.cancel,
          'ms',
          {
            note: 'what the machine allows',
          },
        ),
      );
    }
    rows.push(row(`load: kill (sync loop) -> settled, idle machine`, idle.kill));
    rows.push(
      row(`load: kill (sync loop) -> settled, ${busy.label}`, busy.kill, 'ms', {
        target: 'p50 <= 1.5x idle',
        met: ratio(busy.kill, idle.kill) <= 1.5,
        note: `${ratio(busy.kill, idle.kill).toFixed(2)}x`,
      }),
    );
    rows.push(row(`load: cooperative cancel -> settled, idle machine`, idle.cancel));
    rows.push(
      row(`load: cooperative cancel -> settled, ${busy.label}`, busy.cancel, 'ms', {
        target: 'p50 <= 1.5x idle',
        met: ratio(busy.cancel, idle.cancel) <= 1.5,
        note: `${ratio(busy.cancel, idle.cancel).toFixed(2)}x`,
      }),
    );
    for (const stop of ['kill', 'cancel'] as const) {
      const what = stop === 'kill' ? 'kill (sync loop)' : 'cooperative cancel';
      rows.push(row(`load: ${what} -> settled, task at priority normal, idle machine`, idle.normal[stop]));
      rows.push(
        row(`load: ${what} -> settled, task at priority normal, ${busy.label}`, busy.normal[stop], 'ms', {
          note: `${ratio(busy.normal[stop], idle.normal[stop]).toFixed(2)}x`,
        }),
      );
    }
  } finally {
    await sup.shutdown();
    await watch.close();
  }
  return rows;
}

async function daemonRoundTrip(runs: number): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-bench-load-'));
  const home = path.join(dir, 'home');
  await promisify(execFile)(
    process.execPath,
    [cliPath, 'daemon', '--home', home, '--concurrency', String(BUSY_TASKS + 4)],
    // BENCH_DAEMON_NODE_OPTIONS: Node flags for the daemon alone (GC settings, say), for A/B runs.
    {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: process.env.BENCH_DAEMON_NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? '' },
    },
  );
  const client = await DaemonClient.connect({ home, autostart: false, clientName: 'bench-load' });
  const echo = await BareEcho.start(path.join(dir, 'echo.sock'));
  const raw = await rawDaemonSocket(home);
  const rows: BenchRow[] = [];
  const samples = async (request: () => Promise<unknown>) => {
    const result: number[] = [];
    for (let i = 0; i < runs * 5; i++) {
      const t0 = nowMs();
      await request();
      result.push(nowMs() - t0);
      await sleep(2);
    }
    return result;
  };
  // The floor answers with LIST's reply as the daemon sent it in the same state.
  const listReply = () => client.request('LIST');
  try {
    const idleFloor = await samples(echo.answering(await listReply()));
    const idleRaw = await samples(raw.list);
    const idle = await samples(() => client.request('LIST'));
    for (let i = 0; i < BUSY_TASKS; i++)
      await client.request('TASK_REQUEST', { spec: { command: '/bin/sh', args: SPIN, name: `busy ${i + 1}` } });
    await sleep(2000);
    const busyFloor = await samples(echo.answering(await listReply()));
    const busyRaw = await samples(raw.list);
    const busy = await samples(() => client.request('LIST'));
    const floorNote = { note: 'what the machine allows' };
    rows.push(
      row(
        'load: floor, a bare Node process encoding the LIST reply afresh per request on a Unix socket, idle machine',
        idleFloor,
        'ms',
        floorNote,
      ),
    );
    rows.push(
      row('load: daemon LIST -> ACK round trip, bare lines on its socket (as the floor), idle machine', idleRaw),
    );
    rows.push(row('load: daemon LIST -> ACK round trip, idle machine', idle));
    rows.push(
      row(
        `load: floor, a bare Node process encoding the LIST reply afresh per request on a Unix socket, ${BUSY_TASKS} CPU-bound tasks`,
        busyFloor,
        'ms',
        floorNote,
      ),
    );
    rows.push(
      row(
        `load: daemon LIST -> ACK round trip, bare lines on its socket (as the floor), ${BUSY_TASKS} CPU-bound tasks`,
        busyRaw,
      ),
    );
    rows.push(
      row(`load: daemon LIST -> ACK round trip, ${BUSY_TASKS} CPU-bound tasks`, busy, 'ms', {
        target: 'p99 <= 5 ms',
        met: percentile(busy, 99) <= 5,
      }),
    );
  } finally {
    echo.close();
    raw.close();
    await shutDownBenchDaemon(client, dir);
  }
  return rows;
}

/**
 * The daemon round trip's floor: a separate Node process (as the daemon is) that answers each line
 * on a Unix socket by encoding the same reply afresh (LIST's, as the daemon sent it): the same
 * bytes and about the same CPU per request, with no tasks, no journal and no supervisor beside it.
 */
class BareEcho {
  readonly #child: ReturnType<typeof spawn>;
  readonly #socket: net.Socket;

  private constructor(child: ReturnType<typeof spawn>, socket: net.Socket) {
    this.#child = child;
    this.#socket = socket;
  }

  static async start(socketPath: string): Promise<BareEcho> {
    const server = `require('node:net').createServer((s) => { let buf = ''; let reply = null;
      s.on('data', (d) => { buf += d; let at; while ((at = buf.indexOf('\\n')) >= 0) {
        const line = buf.slice(0, at); buf = buf.slice(at + 1);
        if (line) reply = JSON.parse(line); else s.write(JSON.stringify(reply) + '\\n'); } });
    }).listen(process.argv[1], () => process.stdout.write('ready'));`;
    const child = spawn(process.execPath, ['-e', server, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const socket = net.connect(socketPath);
    await new Promise((resolve) => socket.once('connect', resolve));
    return new BareEcho(child, socket);
  }

  /** Round trips that each get `reply` back, encoded afresh by the other process. */
  answering(reply: unknown): () => Promise<void> {
    this.#socket.write(`${JSON.stringify(reply)}\n`);
    return () => lineRoundTrip(this.#socket, '\n');
  }

  close(): void {
    this.#socket.destroy();
    this.#child.kill('SIGKILL');
  }
}

/** Writes `line` and resolves when the end of a line comes back (one reply at a time on the socket). */
function lineRoundTrip(socket: net.Socket, line: string): Promise<void> {
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.includes(10)) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
    socket.write(line);
  });
}

/**
 * The daemon's own part of a round trip: requests written on its socket as bare lines and the
 * reply's end awaited, with none of DaemonClient's work (no reply schema check, no value decoding),
 * which is what the floor does too.
 */
async function rawDaemonSocket(home: string): Promise<{ list: () => Promise<void>; close: () => void }> {
  const socket = net.connect(socketPath(home));
  await new Promise((resolve) => socket.once('connect', resolve));
  await lineRoundTrip(
    socket,
    `${JSON.stringify({ type: 'HELLO', id: 1, version: PROTOCOL_VERSION, client: 'bench-load-raw' })}\n`,
  );
  let id = 1;
  return {
    list: () => lineRoundTrip(socket, `${JSON.stringify({ type: 'LIST', id: ++id })}\n`),
    close: () => socket.destroy(),
  };
}

/** Of `pids`, those still alive (not zombies): a cheap poll, one stat file each. */
function alive(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      return !/^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
    } catch {
      return false;
    }
  });
}

/** Live processes carrying `markName` in their environment (a full scan of /proc). */
function marked(markName: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (/^\d+ \(.*\) [ZX]/s.test(stat)) continue;
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(`\0${markName}=`)) found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

/** An owner with 50 CPU-bound tasks (and grandchildren) SIGKILLed: time until none of them lives. */
async function ownerDeath(rounds: number): Promise<BenchRow[]> {
  const owner = `
    import { Supervisor } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
    const sup = new Supervisor({ lineageToken: process.env.TOKEN, concurrency: ${BUSY_TASKS + 2}, prewarm: 0, stallAfterMs: Infinity });
    const tasks = [];
    for (let i = 0; i < ${BUSY_TASKS}; i++) tasks.push(sup.start({ command: '/bin/sh', args: ['-c', i % 5 === 0 ? '(while :; do :; done) & setsid sh -c "while :; do :; done" & wait' : 'while :; do :; done'] }));
    while (!tasks.every((t) => t.state === 'running')) await new Promise((r) => setTimeout(r, 20));
    console.log('ready');
    setInterval(() => {}, 1000);`;
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const token = randomBytes(6).toString('hex');
    const child = spawn(process.execPath, ['--input-type=module', '-e', owner], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, TOKEN: token },
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    while (!out.includes('ready')) await sleep(20);
    await sleep(500); // every task spinning
    const name = `TASKWARDEN_OWNER_${token}`;
    let left = marked(name); // nothing forks after this: the tasks only spin
    if (left.length < BUSY_TASKS) throw new Error(`owner: expected ${BUSY_TASKS} marked processes`);
    const t0 = nowMs();
    child.kill('SIGKILL');
    // Poll the known pids cheaply (a full /proc scan per poll would take a core from the dying),
    // then confirm with a full scan that nothing marked is left.
    for (;;) {
      while ((left = alive(left)).length > 0 && nowMs() - t0 < 10_000) await sleep(1);
      const end = nowMs();
      left = marked(name);
      if (left.length === 0 || nowMs() - t0 >= 10_000) {
        samples.push(end - t0);
        break;
      }
    }
  }
  const max = Math.max(...samples);
  return [
    row(`load: owner SIGKILLed -> all ${BUSY_TASKS} CPU-bound tasks and descendants gone`, samples, 'ms', {
      target: 'max <= 1000 ms over 20 runs',
      met: max <= 1000,
      note: `max ${max.toFixed(0)} ms`,
    }),
  ];
}

export async function runLoadBench(runs = 30): Promise<BenchRow[]> {
  const n = Math.min(runs, 40);
  // BENCH_LOAD_PARTS=supervisor,daemon,owner,tui runs some of them.
  const parts = new Set((process.env.BENCH_LOAD_PARTS ?? 'supervisor,daemon,owner,tui').split(','));
  const rows: BenchRow[] = [];
  if (parts.has('supervisor')) rows.push(...(await inProcess(n)));
  if (parts.has('daemon')) rows.push(...(await daemonRoundTrip(n)));
  if (parts.has('owner')) rows.push(...(await ownerDeath(20)));
  if (parts.has('tui')) rows.push(...(await keypressLatency(n)));
  // Which containment (and so which CPU priority mechanism) the figures are for: TASKWARDEN_CGROUPS=off gives the other.
  const backend = automaticContainment().backend;
  return rows.map((r) => ({ ...r, name: `${r.name} [${backend}]` }));
}
