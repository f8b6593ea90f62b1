/**
 * The eight scenarios, the same steps for every contender. Every wait is bounded:
 * a task that is not gone when its limit runs out counts as "never (waited N s)" and is
 * SIGKILLed by exact pid afterwards (Beacons.sweep, or the owner's process tree).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { percentile } from '../lib/stats.js';
import { epochNow, type BeaconMessage, type Beacons } from './beacons.js';
import type { Contender, Mode, Runner, RunnerConfig, Settled, TaskHandle } from './contenders.js';
import {
  cpuTimes,
  descendants,
  isRunning,
  killExact,
  listProcesses,
  procId,
  rssBytes,
  waitGone,
  type ProcId,
} from './proc.js';

export interface PeerConfig {
  /** Runs behind p50/p99 of the per-task latency scenarios (1, 2, 5 prewarmed). */
  runs: number;
  /** Cold starts (5). */
  coldRuns: number;
  /** Samples of the slow scenario 3 (seconds each, taken in parallel). */
  slowRuns: number;
  /** Repetitions of scenario 4 and its task count. */
  bulkRuns: number;
  bulkTasks: number;
  /** Tasks of scenario 6 and the most time it may take per contender. */
  tiny: number;
  tinyBudgetMs: number;
  orphanRuns: number;
  memTasks: number;
  /** Limit of one wait in the fast scenarios. */
  limitMs: number;
  /** How long scenario 3 waits before writing "never". */
  neverMs: number;
  /** Most time one contender may spend in one latency scenario; fewer runs when it runs out. */
  budgetMs: number;
  concurrency: number;
}

export interface PeerRow {
  scenario: string;
  metric: string;
  contender: string;
  unit: string;
  lowerIsBetter: boolean;
  n: number;
  p50: number;
  p99: number;
  /** Samples that never finished within waitedMs (counted as Infinity in the percentiles). */
  never?: number;
  waitedMs?: number;
  /** Set when a contender does not offer what the row measures. */
  notOffered?: string;
  note?: string;
  samples?: number[];
  extra?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function withLimit<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

const round = (v: number) => (Number.isFinite(v) ? Math.round(v * 1000) / 1000 : v);

export function makeRow(base: Omit<PeerRow, 'n' | 'p50' | 'p99'>, samples: number[]): PeerRow {
  const never = samples.filter((s) => s === Infinity).length;
  return {
    ...base,
    n: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    ...(never > 0 ? { never } : {}),
    samples: samples.map(round),
  };
}

export function notOffered(scenario: string, metric: string, c: Contender, unit: string, why: string): PeerRow {
  return { scenario, metric, contender: c.name, unit, lowerIsBetter: true, n: 0, p50: NaN, p99: NaN, notOffered: why };
}

let tagCounter = 0;
const newTag = (what: string, c: Contender) => `${what}-${c.name}-${++tagCounter}`;

/** Resolves with the epoch time the task's process (thread for piscina) was seen gone, undefined past the limit. */
function goneWatcher(
  c: Contender,
  runner: Runner,
  beacons: Beacons,
  running: BeaconMessage,
): (limitMs: number) => Promise<number | undefined> {
  if (c.threads) {
    const exit = runner.threadExit?.(running.threadId);
    return async (limitMs) => (exit ? (await withLimit(exit, limitMs))?.at : epochNow());
  }
  const ids = beacons.processesOf(running).filter((id) => id.pid === running.pid);
  return (limitMs) => waitGone(ids, limitMs);
}

// ---- 1, 2 and 5: one task at a time, contenders interleaved ---------------------------------

/**
 * One contender's side of a latency scenario: step() takes one sample. Contenders take turns
 * in blocks of BLOCK samples, so that a shared machine's changing load falls on all of them
 * alike instead of on whoever ran during the busy minute.
 */
interface Sampler {
  step(): Promise<void>;
  close(): Promise<void>;
  rows(budgetNote: string | undefined): PeerRow[];
}

const BLOCK = 10;

export async function interleaved(
  contenders: Contender[],
  cfg: PeerConfig,
  runs: number,
  make: (c: Contender) => Promise<Sampler>,
  log: (text: string) => void,
): Promise<PeerRow[]> {
  const state: Array<{ c: Contender; sampler: Sampler; done: number; spentMs: number; budgetHit: boolean }> = [];
  for (const c of contenders) state.push({ c, sampler: await make(c), done: 0, spentMs: 0, budgetHit: false });
  const active = () => state.filter((s) => s.done < runs && !s.budgetHit);
  try {
    for (let round = 0; active().length > 0; round++) {
      if (round % 3 === 0) log(`  ${state.map((s) => `${s.c.name} ${s.done}`).join(', ')}`);
      for (const s of active()) {
        for (let k = 0; k < BLOCK && s.done < runs; k++) {
          const t0 = epochNow();
          await s.sampler.step();
          s.spentMs += epochNow() - t0;
          s.done += 1;
        }
        if (s.done < runs && s.done >= 5 && s.spentMs > cfg.budgetMs) s.budgetHit = true;
      }
    }
  } finally {
    for (const s of state) await s.sampler.close();
  }
  return state.flatMap((s) =>
    s.sampler.rows(s.budgetHit ? `budget of ${cfg.budgetMs / 1000} s reached after ${s.done} runs` : undefined),
  );
}

interface OneAtATime {
  mode: Mode;
  stop: 'kill' | 'cancel' | 'none';
  runner: RunnerConfig;
  gapMs: number;
}

/** Start a task, wait until its code runs, then (optionally) stop it and time the stop. */
async function oneAtATime(c: Contender, beacons: Beacons, cfg: PeerConfig, opts: OneAtATime) {
  const result = {
    stop: [] as number[],
    start: [] as number[],
    settle: [] as number[],
    gone: [] as number[],
    cleanup: [] as number[],
    failures: [] as string[],
  };
  const runner = await c.create(opts.runner);
  let i = 0;
  const step = async () => {
    i += 1;
    if (opts.gapMs > 0) {
      await sleep(opts.gapMs);
      if (runner.ready) await withLimit(runner.ready(), cfg.limitMs);
    }
    const tag = newTag(opts.mode, c);
    const t0 = epochNow();
    const handle = runner.start({ mode: opts.mode, beacon: beacons.path, tag });
    const running = await beacons.running(tag, cfg.limitMs);
    if (!running) {
      result.failures.push(`run ${i}: not running after ${cfg.limitMs} ms`);
      handle.kill();
      return;
    }
    result.start.push(running.at - t0);
    if (opts.stop === 'none') {
      const settled = await withLimit(handle.settled, cfg.limitMs);
      if (!settled) result.failures.push(`run ${i}: did not settle`);
      beacons.forget(tag);
      return;
    }
    const gone = goneWatcher(c, runner, beacons, running);
    const c0 = epochNow();
    if (opts.stop === 'kill') handle.kill();
    else handle.cancel();
    // A pool that keeps its worker after a cooperative cancel (workerpool) is not meant to lose the process.
    const expectGone = !(opts.stop === 'cancel' && c.cooperative && c.reusesWorkers);
    const goneAt = expectGone ? await gone(cfg.limitMs) : undefined;
    const settled = await withLimit(handle.settled, cfg.limitMs);
    if (expectGone) result.gone.push(goneAt === undefined ? Infinity : goneAt - c0);
    result.settle.push(settled === undefined ? Infinity : settled.at - c0);
    if (opts.stop === 'kill') {
      result.stop.push(goneAt === undefined ? Infinity : goneAt - c0);
    } else {
      // Settled for the caller AND the task's cleanup done (a pool may reject the caller's promise
      // before the task has stopped); with no cooperative path, the thread/process gone instead.
      const stopped = c.cooperative ? await beacons.stopped(tag, cfg.limitMs) : undefined;
      if (c.cooperative) result.cleanup.push(stopped === undefined ? Infinity : stopped.at - c0);
      const ends = [settled?.at, c.cooperative ? stopped?.at : goneAt];
      result.stop.push(ends.some((e) => e === undefined) ? Infinity : Math.max(...(ends as number[])) - c0);
    }
    // No sweep here: a pool may reuse the worker process (the sweep runs once the pool is closed).
    beacons.forget(tag);
  };
  const close = async () => {
    await withLimit(runner.close(), cfg.limitMs);
    beacons.sweep();
  };
  return { result, step, close };
}

const noteOf = (...parts: Array<string | undefined>) => parts.filter(Boolean).join('; ') || undefined;

// Scenarios 1 and 2 time the stop only: no pause for a prewarmed process to boot (the start is not timed).
export function forceStop(beacons: Beacons, cfg: PeerConfig) {
  return async (c: Contender): Promise<Sampler> => {
    const {
      result: r,
      step,
      close,
    } = await oneAtATime(c, beacons, cfg, { mode: 'spin', stop: 'kill', runner: { concurrency: 2 }, gapMs: 0 });
    return {
      step,
      close,
      rows: (budget) => [
        makeRow(
          {
            scenario: '1',
            metric: '1. force-stop a task stuck in a sync loop (call -> process gone)',
            contender: c.name,
            unit: 'ms',
            lowerIsBetter: true,
            note: noteOf(c.threads ? 'thread exit, not a process' : undefined, budget, ...r.failures),
            extra: { settledMs: summary(r.settle) },
          },
          r.stop,
        ),
      ],
    };
  };
}

export function gracefulCancel(beacons: Beacons, cfg: PeerConfig) {
  return async (c: Contender): Promise<Sampler> => {
    const {
      result: r,
      step,
      close,
    } = await oneAtATime(c, beacons, cfg, { mode: 'coop', stop: 'cancel', runner: { concurrency: 2 }, gapMs: 0 });
    return {
      step,
      close,
      rows: (budget) => [
        makeRow(
          {
            scenario: '2',
            metric: '2. graceful cancel of a cooperative task (call -> settled, cleanup done)',
            contender: c.name,
            unit: 'ms',
            lowerIsBetter: true,
            note: noteOf(
              c.cooperative ? undefined : 'no cooperative path: thread terminated, cleanup never runs',
              budget,
              ...r.failures,
            ),
            extra: {
              callerSettledMs: summary(r.settle),
              cleanupDoneMs: summary(r.cleanup),
              processGoneMs: summary(r.gone),
            },
          },
          r.stop,
        ),
        // The parts: a pool may settle the caller's promise before its task has even cleaned up.
        makeRow(
          {
            scenario: '2',
            metric: "2b. graceful cancel, parts: call -> caller's promise settled",
            contender: c.name,
            unit: 'ms',
            lowerIsBetter: true,
          },
          r.settle,
        ),
        c.cooperative
          ? makeRow(
              {
                scenario: '2',
                metric: '2c. graceful cancel, parts: call -> task cleanup finished',
                contender: c.name,
                unit: 'ms',
                lowerIsBetter: true,
              },
              r.cleanup,
            )
          : notOffered('2', '2c. graceful cancel, parts: call -> task cleanup finished', c, 'ms', 'cleanup never runs'),
        r.gone.length > 0
          ? makeRow(
              {
                scenario: '2',
                metric: '2d. graceful cancel, parts: call -> process gone',
                contender: c.name,
                unit: 'ms',
                lowerIsBetter: true,
                ...(c.threads ? { note: 'thread exit, not a process' } : {}),
              },
              r.gone,
            )
          : notOffered(
              '2',
              '2d. graceful cancel, parts: call -> process gone',
              c,
              'ms',
              'the worker process is kept for the next task',
            ),
      ],
    };
  };
}

const COLD_CPU = '5c. CPU time the task process spent before the task code ran (cold; independent of load)';

export function coldStart(beacons: Beacons, cfg: PeerConfig) {
  return async (c: Contender): Promise<Sampler> => {
    const samples: number[] = [];
    const cpu: number[] = [];
    const failures: string[] = [];
    let i = 0;
    return {
      async step() {
        i += 1;
        // A fresh pool / supervisor with nothing kept ready: the first task pays for its process (thread).
        const runner = await c.create({ concurrency: 1, prewarm: false });
        await sleep(20);
        try {
          const tag = newTag('cold', c);
          const t0 = epochNow();
          const handle = runner.start({ mode: 'echo', beacon: beacons.path, tag });
          const running = await beacons.running(tag, cfg.limitMs);
          if (running) {
            samples.push(running.at - t0);
            if (running.cpuMs !== undefined && !c.threads) cpu.push(running.cpuMs);
          } else {
            failures.push(`run ${i}: not running after ${cfg.limitMs} ms`);
          }
          await withLimit(handle.settled, cfg.limitMs);
          beacons.forget(tag);
        } finally {
          await withLimit(runner.close(), cfg.limitMs);
          beacons.sweep();
        }
      },
      async close() {},
      rows: (budget) => [
        makeRow(
          {
            scenario: '5',
            metric: '5a. start latency, cold (start call -> task code running)',
            contender: c.name,
            unit: 'ms',
            lowerIsBetter: true,
            note: noteOf(budget, ...failures),
          },
          samples,
        ),
        c.threads
          ? notOffered('5', COLD_CPU, c, 'ms', 'a thread: no process of its own')
          : makeRow({ scenario: '5', metric: COLD_CPU, contender: c.name, unit: 'ms', lowerIsBetter: true }, cpu),
      ],
    };
  };
}

export const WARM_START = '5b. start latency, prewarmed (start call -> task code running)';

/** Only for contenders that offer prewarming (the caller adds 'n/a' rows for the others). */
export function warmStart(beacons: Beacons, cfg: PeerConfig, gapMs: number) {
  return async (c: Contender): Promise<Sampler> => {
    const {
      result: r,
      step,
      close,
    } = await oneAtATime(c, beacons, cfg, {
      mode: 'echo',
      stop: 'none',
      runner: { concurrency: 1, prewarm: true },
      gapMs,
    });
    return {
      step,
      close,
      rows: (budget) => [
        makeRow(
          {
            scenario: '5',
            metric: WARM_START,
            contender: c.name,
            unit: 'ms',
            lowerIsBetter: true,
            note: noteOf(
              c.name === 'workerpool' || c.name === 'piscina' ? 'worker reused: warm in every sense' : undefined,
              budget,
              ...r.failures,
            ),
            extra: { gapMs },
          },
          r.start,
        ),
      ],
    };
  };
}

// ---- 3: a task that ignores cancellation ----------------------------------------------------

interface Variant {
  c: Contender;
  label: 'defaults' | '1 s grace';
  config: RunnerConfig;
}

export async function ignoresCancel(contenders: Contender[], beacons: Beacons, cfg: PeerConfig): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  const variants: Variant[] = [];
  const metric = (label: string) => `3. cancel a task that ignores it, ${label} (call -> process gone)`;
  for (const c of contenders) {
    variants.push({ c, label: 'defaults', config: { concurrency: cfg.slowRuns } });
    if (c.offersGrace) variants.push({ c, label: '1 s grace', config: { concurrency: cfg.slowRuns, graceMs: 1000 } });
    else
      rows.push(
        notOffered(
          '3',
          metric('1 s grace'),
          c,
          'ms',
          c.threads ? 'threads are terminated at once' : 'no grace setting',
        ),
      );
  }
  // Start everything first, then cancel everything at once: the waits overlap, the stops do not compete with start-ups.
  const prepared = await Promise.all(
    variants.map(async (v) => {
      const runner = await v.c.create(v.config);
      const tasks = Array.from({ length: cfg.slowRuns }, () => {
        const tag = newTag('ignore', v.c);
        return { tag, handle: runner.start({ mode: 'ignore', beacon: beacons.path, tag }) };
      });
      const running = await Promise.all(tasks.map((t) => beacons.running(t.tag, cfg.limitMs * 3)));
      return { v, runner, tasks, running };
    }),
  );
  await sleep(200);
  const measured = await Promise.all(
    prepared.map(async ({ v, runner, tasks, running }) => {
      const samples: number[] = [];
      await Promise.all(
        tasks.map(async (t, i) => {
          const msg = running[i];
          if (!msg) return;
          const gone = goneWatcher(v.c, runner, beacons, msg);
          const c0 = epochNow();
          t.handle.cancel();
          const goneAt = await gone(cfg.neverMs);
          samples.push(goneAt === undefined ? Infinity : goneAt - c0);
        }),
      );
      return { v, runner, samples, notRunning: running.filter((m) => !m).length };
    }),
  );
  for (const { v, runner, samples, notRunning } of measured) {
    for (const t of prepared.find((p) => p.v === v)!.tasks) t.handle.kill();
    await withLimit(runner.close(), cfg.limitMs);
    rows.push(
      makeRow(
        {
          scenario: '3',
          metric: metric(v.label),
          contender: v.c.name,
          unit: 'ms',
          lowerIsBetter: true,
          waitedMs: cfg.neverMs,
          note: notRunning ? `${notRunning} did not start` : undefined,
          extra: { escalation: v.label === 'defaults' ? v.c.defaultEscalation : 'grace 1 s' },
        },
        samples,
      ),
    );
  }
  beacons.sweep();
  return rows;
}

// ---- 4: stop many running tasks at once -----------------------------------------------------

export async function stopMany(c: Contender, beacons: Beacons, cfg: PeerConfig): Promise<PeerRow[]> {
  const samples: number[] = [];
  const startup: number[] = [];
  const lastGone: number[] = [];
  const lastSettled: number[] = [];
  const failures: string[] = [];
  for (let run = 0; run < cfg.bulkRuns; run++) {
    const runner = await c.create({ concurrency: cfg.bulkTasks });
    try {
      const t0 = epochNow();
      const tags = Array.from({ length: cfg.bulkTasks }, () => newTag('bulk', c));
      const handles: TaskHandle[] = tags.map((tag) => runner.start({ mode: 'coop', beacon: beacons.path, tag }));
      const running = await Promise.all(tags.map((tag) => beacons.running(tag, cfg.limitMs * 6)));
      if (running.some((m) => !m)) {
        failures.push(`run ${run}: ${running.filter((m) => !m).length} of ${cfg.bulkTasks} never ran`);
        for (const h of handles) h.kill();
        continue;
      }
      startup.push(epochNow() - t0);
      await sleep(200);
      const gone = (running as BeaconMessage[]).map((m) => goneWatcher(c, runner, beacons, m));
      const c0 = epochNow();
      const stopped = runner.stopAll().then(
        () => epochNow(),
        () => epochNow(),
      );
      const goneAt = await Promise.all(gone.map((g) => g(cfg.limitMs)));
      const stoppedAt = await withLimit(stopped, cfg.limitMs);
      const settled = await withLimit(Promise.all(handles.map((h) => h.settled)), cfg.limitMs);
      const ends = [stoppedAt, ...goneAt, ...(settled ?? [undefined]).map((s) => s?.at)];
      samples.push(ends.some((e) => e === undefined) ? Infinity : Math.max(...(ends as number[])) - c0);
      // Where the time goes: the last process gone vs the caller's last promise settled.
      const lastOf = (values: Array<number | undefined>) =>
        values.some((v) => v === undefined) ? Infinity : Math.max(...(values as number[])) - c0;
      lastGone.push(lastOf(goneAt));
      lastSettled.push(lastOf([stoppedAt, ...(settled ?? [undefined]).map((s) => s?.at)]));
      tags.forEach((tag) => beacons.forget(tag));
    } finally {
      await withLimit(runner.close(), cfg.limitMs);
      beacons.sweep();
    }
  }
  return [
    makeRow(
      {
        scenario: '4',
        metric: `4. stop ${cfg.bulkTasks} running tasks at once (call -> all settled, all gone)`,
        contender: c.name,
        unit: 'ms',
        lowerIsBetter: true,
        note: failures.join('; ') || undefined,
        extra: { startAllMs: summary(startup), lastGoneMs: summary(lastGone), lastSettledMs: summary(lastSettled) },
      },
      samples,
    ),
  ];
}

// ---- 6: throughput of tiny tasks ------------------------------------------------------------

const TINY_TURN_MS = 4000;

/**
 * Every contender keeps its pool for the whole scenario and takes turns of TINY_TURN_MS
 * (a shared machine's load changes; it should change for everyone). In a turn it keeps
 * 2 x concurrency tasks in flight, then drains. Wall time, completed tasks and CPU
 * (this process; reaped children) are summed over its turns; workers a pool keeps are reaped,
 * and counted for it, when it closes.
 */
export async function throughput(
  contenders: Contender[],
  beacons: Beacons,
  cfg: PeerConfig,
  log: (text: string) => void,
): Promise<PeerRow[]> {
  const state: Array<{
    c: Contender;
    runner: Runner;
    submitted: number;
    completed: number;
    failed: number;
    why: string[];
    wallMs: number;
    selfMs: number;
    childrenMs: number;
  }> = [];
  for (const c of contenders) {
    state.push({
      c,
      runner: await c.create({ concurrency: cfg.concurrency }),
      submitted: 0,
      completed: 0,
      failed: 0,
      why: [],
      wallMs: 0,
      selfMs: 0,
      childrenMs: 0,
    });
  }
  const window = cfg.concurrency * 2;
  const unfinished = () => state.filter((s) => s.submitted < cfg.tiny && s.wallMs < cfg.tinyBudgetMs);
  try {
    while (unfinished().length > 0) {
      log(`  ${state.map((s) => `${s.c.name} ${s.completed}`).join(', ')}`);
      for (const s of unfinished()) {
        const cpu0 = cpuTimes();
        const t0 = epochNow();
        const turnMs = Math.min(TINY_TURN_MS, cfg.tinyBudgetMs - s.wallMs);
        await new Promise<void>((resolve) => {
          let inFlight = 0;
          const submit = () => {
            while (inFlight < window && s.submitted < cfg.tiny && epochNow() - t0 < turnMs) {
              s.submitted += 1;
              inFlight += 1;
              void s.runner
                .start({ mode: 'noop', beacon: beacons.path, tag: `tiny-${s.c.name}-${s.submitted}` })
                .settled.then((r: Settled) => {
                  inFlight -= 1;
                  if (r.ok) s.completed += 1;
                  else {
                    s.failed += 1;
                    if (s.why.length < 3) s.why.push(r.why ?? '?');
                  }
                  submit();
                });
            }
            if (inFlight === 0) resolve();
          };
          submit();
        });
        const cpu1 = cpuTimes();
        s.wallMs += epochNow() - t0;
        s.selfMs += cpu1.selfMs - cpu0.selfMs;
        s.childrenMs += cpu1.childrenMs - cpu0.childrenMs;
      }
    }
  } finally {
    for (const s of state) {
      const cpu0 = cpuTimes();
      await withLimit(s.runner.close(), cfg.limitMs);
      await sleep(100);
      const cpu1 = cpuTimes();
      s.childrenMs += cpu1.childrenMs - cpu0.childrenMs;
    }
    beacons.sweep();
  }
  return state.flatMap((s) => {
    const perTask = (ms: number) => ms / Math.max(1, s.completed);
    const rate = s.completed / (s.wallMs / 1000);
    const cut = s.submitted < cfg.tiny;
    return [
      makeRow(
        {
          scenario: '6',
          metric: '6b. CPU per tiny task, controlling process',
          contender: s.c.name,
          unit: 'ms',
          lowerIsBetter: true,
        },
        [perTask(s.selfMs)],
      ),
      makeRow(
        {
          scenario: '6',
          metric: '6c. CPU per tiny task, task processes',
          contender: s.c.name,
          unit: 'ms',
          lowerIsBetter: true,
          note: s.c.threads ? 'threads: counted in the controlling process' : undefined,
        },
        [perTask(s.childrenMs)],
      ),
      {
        scenario: '6',
        metric: `6a. throughput, ${cfg.tiny} tiny tasks (${cfg.concurrency} at once)`,
        contender: s.c.name,
        unit: 'tasks/s',
        lowerIsBetter: false,
        n: s.completed,
        p50: rate,
        p99: rate,
        note: noteOf(
          s.failed ? `${s.failed} failed, e.g. ${s.why.join(' | ')}` : undefined,
          cut ? `rate over ${s.completed} done in the ${cfg.tinyBudgetMs / 1000} s budget` : undefined,
        ),
        extra: {
          seconds: s.wallMs / 1000,
          completed: s.completed,
          failed: s.failed,
          msPerTask: s.wallMs / Math.max(1, s.completed),
          isolation: s.c.isolation,
        },
      } satisfies PeerRow,
    ];
  });
}

// ---- 7 and 8: a separate owner process per contender ----------------------------------------

const OWNER = fileURLToPath(new URL('./owner.js', import.meta.url));

interface Owner {
  pid: number;
  id: ProcId;
  ready: Promise<boolean>;
  go(): void;
  /** Asks the owner to collect its garbage; resolves once it has (or after a second). */
  gc(): Promise<void>;
  kill(): void;
}

function startOwner(c: Contender, mode: Mode, count: number, beacons: Beacons, tagPrefix: string): Owner {
  // Its own session: whatever it starts without a session of its own can be found again after it dies.
  const child = spawn(process.execPath, ['--expose-gc', OWNER, c.name, mode, String(count), beacons.path, tagPrefix], {
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.on('error', () => {});
  child.stdin.on('error', () => {});
  const lines = createInterface({ input: child.stdout });
  let gcDone: (() => void) | undefined;
  const ready = new Promise<boolean>((resolve) => {
    lines.on('line', (line) => {
      if (line.trim() === 'ready') resolve(true);
      if (line.trim() === 'gc done') gcDone?.();
    });
    child.once('exit', () => resolve(false));
  });
  const pid = child.pid!;
  return {
    pid,
    id: procId(pid) ?? { pid, startTime: -1 },
    ready,
    go: () => child.stdin.write('go\n'),
    gc: async () => {
      const done = new Promise<void>((resolve) => (gcDone = resolve));
      child.stdin.write('gc\n');
      await withLimit(done, 1000);
      await sleep(50);
    },
    kill: () => {
      lines.close();
      child.kill('SIGKILL');
    },
  };
}

/** What an owner left: its tree as seen before it died, plus anything still in its session. */
function ownerLeftovers(owner: Owner, snapshot: ProcId[]): ProcId[] {
  const alive = new Map<number, ProcId>();
  for (const id of snapshot) if (isRunning(id)) alive.set(id.pid, id);
  for (const p of listProcesses()) {
    if (p.session === owner.pid && p.state !== 'Z' && p.state !== 'X' && p.pid !== owner.pid)
      alive.set(p.pid, { pid: p.pid, startTime: p.startTime });
  }
  return [...alive.values()];
}

async function cleanUpOwner(owner: Owner, snapshot: ProcId[]): Promise<number> {
  owner.kill();
  let left = ownerLeftovers(owner, snapshot);
  for (let attempt = 0; attempt < 5 && left.length > 0; attempt++) {
    for (const id of left) killExact(id);
    await sleep(50);
    left = ownerLeftovers(owner, snapshot);
  }
  return left.length;
}

export async function orphans(contenders: Contender[], beacons: Beacons, cfg: PeerConfig): Promise<PeerRow[]> {
  const counts = new Map<string, number[]>();
  const details = new Map<string, string[]>();
  for (let run = 0; run < cfg.orphanRuns; run++) {
    // One owner per contender, all at once: each is killed and counted on its own.
    await Promise.all(
      contenders.map(async (c) => {
        const tag = newTag('orphan', c);
        const owner = startOwner(c, 'grandchild', 1, beacons, tag);
        let snapshot: ProcId[] = [];
        try {
          if (!(await withLimit(owner.ready, cfg.limitMs * 3))) throw new Error('owner did not get ready');
          owner.go();
          const running = await beacons.running(`${tag}-0`, cfg.limitMs * 3);
          if (!running?.grandchild) throw new Error('task with grandchild did not start');
          await sleep(300);
          snapshot = descendants(owner.pid).map((p) => ({ pid: p.pid, startTime: p.startTime }));
          owner.kill();
          await sleep(1000);
          const left = ownerLeftovers(owner, snapshot);
          const roles = left.map((id) => {
            const role = id.pid === running.pid ? 'task' : id.pid === running.grandchild ? 'grandchild' : 'helper';
            return `${role}:${listProcesses().find((p) => p.pid === id.pid)?.comm ?? '?'}`;
          });
          push(counts, c.name, left.length);
          push(details, c.name, roles.join(',') || 'none');
        } catch (error) {
          push(details, c.name, `error: ${(error as Error).message}`);
        } finally {
          const stubborn = await cleanUpOwner(owner, snapshot);
          if (stubborn > 0) push(details, c.name, `${stubborn} could not be killed`);
          beacons.forget(`${tag}-0`);
        }
      }),
    );
  }
  beacons.sweep();
  return contenders.map((c) =>
    makeRow(
      {
        scenario: '7',
        metric: '7. owner SIGKILLed, stuck task + grandchild: processes alive after 1 s',
        contender: c.name,
        unit: 'processes',
        lowerIsBetter: true,
        note: [...new Set(details.get(c.name) ?? [])].join(' | '),
      },
      counts.get(c.name) ?? [],
    ),
  );
}

export async function memory(contenders: Contender[], beacons: Beacons, cfg: PeerConfig): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  const MiB = 2 ** 20;
  const results = await Promise.all(
    contenders.map(async (c) => {
      const tag = newTag('mem', c);
      const owner = startOwner(c, 'coop', cfg.memTasks, beacons, tag);
      let snapshot: ProcId[] = [];
      try {
        if (!(await withLimit(owner.ready, cfg.limitMs * 3))) throw new Error('owner did not get ready');
        await sleep(500);
        await owner.gc();
        const idle = rssBytes(owner.pid);
        owner.go();
        const running = await Promise.all(
          Array.from({ length: cfg.memTasks }, (_, i) => beacons.running(`${tag}-${i}`, cfg.limitMs * 6)),
        );
        if (running.some((m) => !m)) throw new Error('not every task started');
        await sleep(1000);
        await owner.gc();
        const busy = rssBytes(owner.pid);
        const tree = descendants(owner.pid);
        snapshot = tree.map((p) => ({ pid: p.pid, startTime: p.startTime }));
        const taskPids = new Set((running as BeaconMessage[]).map((m) => m.pid).filter((pid) => pid !== owner.pid));
        const perTask = c.threads ? [(busy - idle) / cfg.memTasks] : [...taskPids].map(rssBytes);
        const helpers = tree.filter((p) => !taskPids.has(p.pid));
        return {
          c,
          idle,
          busy,
          perTask,
          helpers: helpers.reduce((sum, p) => sum + rssBytes(p.pid), 0),
          helperNames: helpers.map((p) => p.comm),
        };
      } catch (error) {
        return { c, error: (error as Error).message };
      } finally {
        await cleanUpOwner(owner, snapshot);
        for (let i = 0; i < cfg.memTasks; i++) beacons.forget(`${tag}-${i}`);
      }
    }),
  );
  beacons.sweep();
  for (const r of results) {
    const base = { scenario: '8', contender: r.c.name, unit: 'MiB', lowerIsBetter: true };
    if ('error' in r) {
      rows.push({
        ...base,
        metric: '8a. RSS of the controlling process, idle',
        n: 0,
        p50: NaN,
        p99: NaN,
        note: r.error,
      });
      continue;
    }
    rows.push(
      makeRow({ ...base, metric: '8a. RSS of the controlling process, idle (library loaded, pool ready)' }, [
        r.idle / MiB,
      ]),
    );
    rows.push(
      makeRow({ ...base, metric: `8b. RSS of the controlling process, ${cfg.memTasks} tasks running` }, [r.busy / MiB]),
    );
    rows.push(
      makeRow(
        {
          ...base,
          metric: '8c. RSS per task process',
          note: r.c.threads ? 'a thread: growth of the controlling process per task' : undefined,
        },
        r.perTask.map((b) => b / MiB),
      ),
    );
    rows.push(
      makeRow(
        {
          ...base,
          metric: '8d. RSS of helper processes (kept ready, guards)',
          note: r.helperNames.length ? r.helperNames.join(', ') : undefined,
        },
        [r.helpers / MiB],
      ),
    );
  }
  return rows;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function summary(samples: number[]): { n: number; p50: number; p99: number } | undefined {
  if (samples.length === 0) return undefined;
  return { n: samples.length, p50: round(percentile(samples, 50)), p99: round(percentile(samples, 99)) };
}
