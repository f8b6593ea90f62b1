/**
 * Terminal UI benchmarks:
 *  - keypress-to-frame latency: from writing `k` to the pseudo-terminal until the bytes the UI
 *    writes back show the selected row as 'cancelling…', with 0 and with 50 CPU-bound tasks
 *    running in the daemon (target p99 <= 16 ms with 50, one frame at 60 Hz);
 *  - frame cost with 500 tasks each reporting progress at 10 Hz (in-process, fake daemon): time
 *    from a store commit until Ink has written the frame, frames per second, CPU and bytes.
 * Needs the build (npm run bench builds first) and node-pty (a dev dependency).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pty from 'node-pty';
import { DaemonClient } from '../src/daemon/client.js';
import type { DaemonEvent } from '../src/protocol/messages.js';
import type { TaskSnapshot } from '../src/supervisor/types.js';
import type { TuiClient } from '../src/tui/client.js';
import { builtinModulePath } from '../src/tasks/templates.js';
import { nowMs, row, type BenchRow } from './lib/stats.js';
import { shutDownBenchDaemon } from './lib/daemon.js';

/** The pseudo-terminal of the latency benchmark: a common size (what a frame costs grows with it). */
const PTY_COLUMNS = 100;
const PTY_ROWS = 30;
const cliPath = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]/g;

function childEnv(dir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== 'CI' && k !== 'CONTINUOUS_INTEGRATION' && k !== 'NODE_OPTIONS') env[k] = v;
  }
  return { ...env, TERM: 'xterm-256color', TASKWARDEN_CACHE_DIR: path.join(dir, 'cache') };
}

/** The UI in a pseudo-terminal, read as raw bytes (no terminal emulator in the measured path). */
class PtyUi {
  readonly proc: pty.IPty;
  #since = '';
  #waiter: { test: (text: string) => boolean; resolve: (at: number) => void } | undefined;

  constructor(dir: string, home: string) {
    this.proc = pty.spawn(process.execPath, [cliPath, '--home', home], {
      name: 'xterm-256color',
      cols: PTY_COLUMNS,
      rows: PTY_ROWS,
      cwd: dir,
      env: childEnv(dir),
    });
    this.proc.onData((data) => {
      const at = nowMs();
      this.#since += data;
      if (this.#waiter && this.#waiter.test(this.#since.replace(ANSI, ''))) {
        const w = this.#waiter;
        this.#waiter = undefined;
        w.resolve(at);
      }
    });
  }

  /** Writes `keys` and resolves with the time the output since the write first satisfies `test`. */
  press(keys: string, test: (text: string) => boolean, timeoutMs = 10_000): Promise<{ sent: number; seen: number }> {
    this.#since = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(
          new Error(
            `no frame matching within ${timeoutMs} ms after ${JSON.stringify(keys)}; last output: ${this.#since.replace(ANSI, '').slice(-400)}`,
          ),
        );
      }, timeoutMs);
      let sent = 0;
      this.#waiter = {
        test,
        resolve: (seen) => {
          clearTimeout(timer);
          resolve({ sent, seen });
        },
      };
      sent = nowMs();
      this.proc.write(keys);
    });
  }

  waitFor(test: (text: string) => boolean, timeoutMs = 30_000): Promise<number> {
    this.#since = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`the UI did not show what was expected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = {
        test,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      };
    });
  }

  kill(): void {
    try {
      this.proc.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

function rowShows(text: string, id: string, what: string): boolean {
  for (const line of text.split(/\r?\n|\r/)) if (line.startsWith(`${id} `) && line.includes(what)) return true;
  return false;
}

/** Starts template 1 (an idle `sleep`) from the UI and returns its id once the UI has selected it. */
async function startTarget(ui: PtyUi): Promise<string> {
  const t0 = nowMs();
  let id = '';
  await ui.press(
    '1',
    (text) => {
      const m = /Started task (\S+): target/.exec(text);
      if (m) id = m[1]!;
      return m !== null;
    },
    60_000,
  );
  if (process.env.BENCH_TUI_DEBUG) process.stderr.write(`start ${id}: ${(nowMs() - t0).toFixed(0)} ms\n`);
  return id;
}

async function latencySamples(ui: PtyUi, runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const id = await startTarget(ui);
    await sleep(20 + Math.random() * 30); // land anywhere in the frame cycle
    const { sent, seen } = await ui.press('k', (text) => rowShows(text, id, 'cancelling…'));
    samples.push(seen - sent);
    if (i % 25 === 24) {
      await sleep(200);
      await ui.press('c', (text) => text.includes('Cleared') || text.includes('No finished rows'));
    }
  }
  return samples;
}

export /**
 * The floor under any terminal UI here: a bare Node process in the same kind of pseudo-terminal
 * that echoes each key at once. Whatever it measures is scheduling and pty delay, not the UI.
 */
async function echoFloor(dir: string, runs: number): Promise<number[]> {
  const script =
    "process.stdin.setRawMode(true); process.stdin.on('data', (d) => { if (String(d) === 'q') process.exit(0); process.stdout.write('got ' + d + '\\n'); });";
  const proc = pty.spawn(process.execPath, ['-e', script], {
    name: 'xterm-256color',
    cols: PTY_COLUMNS,
    rows: PTY_ROWS,
    cwd: dir,
    env: childEnv(dir),
  });
  const samples: number[] = [];
  try {
    await sleep(300);
    for (let i = 0; i < runs; i++) {
      let sent = 0;
      const seen = await new Promise<number>((resolve) => {
        const listener = proc.onData((data) => {
          if (data.includes('got k')) {
            const at = nowMs();
            listener.dispose();
            resolve(at);
          }
        });
        sent = nowMs();
        proc.write('k');
      });
      samples.push(seen - sent);
      await sleep(20 + Math.random() * 30);
    }
  } finally {
    proc.kill('SIGKILL');
  }
  return samples;
}

export async function keypressLatency(runs: number): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskwarden-bench-tui-'));
  const home = path.join(dir, 'home');
  writeFileSync(
    path.join(dir, 'taskwarden.config.json'),
    JSON.stringify({ templates: [{ name: 'target', command: ['sleep', '600'] }] }),
  );
  const env = childEnv(dir);
  // A daemon that runs every task at once: 50 CPU-bound tasks really compete for the 2 cores.
  await promisify(execFile)(process.execPath, [cliPath, 'daemon', '--home', home, '--concurrency', '256'], {
    env,
    cwd: dir,
  });
  const client = await DaemonClient.connect({ home, autostart: false, clientName: 'bench-tui' });
  const ui = new PtyUi(dir, home);
  const rows: BenchRow[] = [];
  try {
    await ui.waitFor((text) => text.includes('Connected to the daemon'));
    rows.push(
      row('tui: floor, bare echo process in a pty, 0 busy tasks', await echoFloor(dir, runs), 'ms', {
        note: 'what the machine allows',
      }),
    );
    const idle = await latencySamples(ui, runs);
    rows.push(
      row('tui: keypress k -> frame shows cancelling…, 0 busy tasks', idle, 'ms', {
        note: `pty ${PTY_COLUMNS}x${PTY_ROWS}, real daemon`,
      }),
    );

    for (let i = 0; i < 50; i++) {
      await client.request('TASK_REQUEST', {
        spec: { module: builtinModulePath('cpu-burner'), input: { seconds: 0 }, name: `burner ${i + 1}` },
      });
    }
    for (let t = 0; t < 600; t++) {
      const { tasks } = await client.request('LIST');
      if (tasks.filter((x) => x.name.startsWith('burner') && x.state === 'running').length >= 50) break;
      await sleep(100);
    }
    await sleep(1000);
    rows.push(
      row('tui: floor, bare echo process in a pty, 50 CPU-bound tasks', await echoFloor(dir, runs), 'ms', {
        note: 'what the machine allows',
      }),
    );
    const busy = await latencySamples(ui, runs);
    rows.push(
      row('tui: keypress k -> frame shows cancelling…, 50 CPU-bound tasks', busy, 'ms', {
        target: 'p99 <= 16 ms',
        met: row('', busy).p99 <= 16,
        note: `pty ${PTY_COLUMNS}x${PTY_ROWS}, real daemon, ${os.availableParallelism()} CPUs`,
      }),
    );
  } finally {
    ui.kill();
    await shutDownBenchDaemon(client, dir);
  }
  return rows;
}

/** A daemon connection stand-in that reports progress for `count` tasks at `hz`. */
function fakeClient(count: number): { client: TuiClient; tick: () => void } {
  const listeners: Array<(e: DaemonEvent) => void> = [];
  const now = Date.now();
  const tasks: TaskSnapshot[] = Array.from({ length: count }, (_, i) => ({
    id: String(i + 1),
    name: `worker ${i + 1}`,
    kind: 'module',
    spec: { module: '/bench.js' },
    state: 'running',
    attempt: 1,
    createdAt: now + i,
    startedAt: now,
  }));
  let step = 0;
  const client: TuiClient = {
    welcome: { version: 1, daemonPid: process.pid, home: '/bench' },
    // The frame-cost run presses no key that asks the daemon anything.
    request: (type, ..._payload) => Promise.reject(new Error(`the frame-cost bench's stand-in answers no ${type}`)),
    subscribe: async () => tasks,
    onEvent: (l) => void listeners.push(l),
    onClose: () => {},
    close: () => {},
    closed: false,
  };
  const tick = () => {
    step += 1;
    for (const t of tasks) {
      const event: DaemonEvent = {
        type: 'TASK_PROGRESS',
        taskId: t.id,
        progress: { fraction: (step % 100) / 100, message: `step ${step}` },
      };
      for (const l of listeners) l(event);
    }
  };
  return { client, tick };
}

export async function frameCost(seconds: number, columns = 160, rows = 50): Promise<BenchRow[]> {
  // As the UI does (src/tui/main.ts): React's production build, loaded only now.
  process.env.NODE_ENV ??= 'production';
  const [{ createElement }, { render }, { App }, { Controller }, { TuiStore }] = await Promise.all([
    import('react'),
    import('ink'),
    import('../src/tui/components/app.js'),
    import('../src/tui/controller.js'),
    import('../src/tui/store.js'),
  ]);
  const { client, tick } = fakeClient(500);
  const store = new TuiStore({ size: { columns, rows } });
  store.frameCosts = [];
  const controller = new Controller({ store, connect: async () => client, tickMs: 1000 });
  let commitAt = 0;
  let commitCpu = 0;
  const frames: number[] = [];
  /** CPU time of the same span: on a shared machine wall time mostly measures waiting for a core. */
  const frameCpu: number[] = [];
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let bytes = 0;
  const stdout = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _enc, callback) {
        bytes += chunk.length;
        if (commitAt > 0) {
          frames.push(nowMs() - commitAt);
          frameCpu.push(cpuMs() - commitCpu);
          commitAt = 0;
        }
        callback();
      },
    }),
    { isTTY: true, columns, rows },
  ) as unknown as NodeJS.WriteStream;
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode: () => stdin,
    ref: () => stdin,
    unref: () => stdin,
  }) as unknown as NodeJS.ReadStream;
  const commit = store.commit.bind(store);
  store.commit = () => {
    commitAt = nowMs();
    commitCpu = cpuMs();
    commit();
  };
  const instance = render(createElement(App, { controller }), {
    stdout,
    stdin,
    stderr: stdout,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 0,
    onRender: () => store.frameRendered(),
  });
  await controller.start();
  await sleep(300);
  frames.length = 0;
  frameCpu.length = 0;
  bytes = 0;
  const timer = setInterval(tick, 100);
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  await sleep(seconds * 1000);
  clearInterval(timer);
  const wall = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const framesSeen = frames.length;
  instance.unmount();
  controller.dispose();
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  const where = `500 tasks at 10 Hz, ${columns}x${rows}`;
  return [
    row(`tui: frame cost, CPU time, ${where} (commit -> frame written)`, frameCpu, 'ms CPU', {
      note: `${(framesSeen / (wall / 1000)).toFixed(1)} fps, UI process ${cpuPercent.toFixed(0)}% of a core in all, ${(bytes / Math.max(1, framesSeen) / 1024).toFixed(1)} KiB written per frame, in-process fake daemon`,
    }),
    row(`tui: frame cost, wall time, ${where}`, frames, 'ms', {
      note: 'includes waiting for a core on a busy machine',
    }),
  ];
}

export async function runTuiBench(runs = Number(process.env.BENCH_RUNS ?? 100)): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const seconds = Math.max(3, Math.min(10, runs / 10));
  rows.push(...(await frameCost(seconds, 100, 30)));
  rows.push(...(await frameCost(seconds, 160, 50)));
  rows.push(...(await keypressLatency(runs)));
  return rows;
}

// `node dist/bench/tui.js [runs] [frames|keys]`: this suite alone, or one half of it.
if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  const { markdownTable, machineLine } = await import('./lib/stats.js');
  const runs = process.argv[2] ? Number(process.argv[2]) : 100;
  const only = process.argv[3];
  console.log(`machine: ${machineLine()}`);
  const rows =
    only === 'frames'
      ? [...(await frameCost(5, 100, 30)), ...(await frameCost(5, 160, 50))]
      : only === 'keys'
        ? await keypressLatency(runs)
        : await runTuiBench(runs);
  console.log(markdownTable(rows));
  process.exit(0);
}
