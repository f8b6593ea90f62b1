/**
 * Every misbehaving fixture crossed with every stop path, on real processes:
 * final state, a generous time bound, and no process of the group left (read from /proc).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Supervisor, type Task, type TaskSpec, type TerminalState } from '../../src/index.js';
import { fixture, isAlive, liveInGroup, waitFor } from '../helpers.js';

// Long enough for a cooperative task to stop on a loaded 2-core CI machine; escalation cases wait it out.
const GRACE = 1000;
const sup = new Supervisor({ graceMs: GRACE, concurrency: 8, prewarm: 2, stallAfterMs: Infinity });
afterAll(() => sup.shutdown());

type Op = 'cancel' | 'kill' | 'restart' | 'stopAll';
interface Case {
  name: string;
  spec: TaskSpec;
  /** Resolves when the task is far enough in to be worth stopping. */
  ready: (t: Task) => Promise<unknown>;
  expected: Record<Exclude<Op, 'restart'>, TerminalState>;
  escalates?: boolean;
}

const untilProgress = (t: Task) => waitFor(() => t.progress !== undefined, 10_000, `progress of task ${t.id}`);
const untilRunning = (t: Task) => waitFor(() => t.state === 'running', 10_000, `task ${t.id} running`);
const untilDone = (t: Task) => t.done;
/** For shell fixtures: wait for the line they print once their traps are set. */
const untilLogged = (text: string) => (t: Task) =>
  new Promise<void>((resolve) => {
    t.on('log', (l) => {
      if (l.line === text) resolve();
    });
  });

const cases: Case[] = [
  {
    name: 'cooperative',
    spec: { module: fixture('cooperative') },
    ready: untilProgress,
    expected: { cancel: 'cancelled', kill: 'killed', stopAll: 'cancelled' },
  },
  {
    name: 'ignores cancellation',
    spec: { module: fixture('ignores-cancel') },
    ready: untilProgress,
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
    escalates: true,
  },
  {
    name: 'sync infinite loop',
    spec: { module: fixture('sync-loop') },
    ready: untilProgress,
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
    escalates: true,
  },
  {
    name: 'blocked in native code',
    spec: { module: fixture('native-block') },
    ready: untilProgress,
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
    escalates: true,
  },
  {
    name: 'spawns grandchildren',
    spec: { module: fixture('grandchildren') },
    ready: untilProgress,
    expected: { cancel: 'cancelled', kill: 'killed', stopAll: 'cancelled' },
  },
  {
    name: 'grandchildren, ignores cancellation',
    spec: { module: fixture('grandchildren'), input: { cooperative: false } },
    ready: untilProgress,
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
    escalates: true,
  },
  {
    name: 'cleanup slower than grace',
    spec: { module: fixture('slow-cleanup') },
    ready: untilProgress,
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
    escalates: true,
  },
  {
    name: 'throws',
    spec: { module: fixture('throws') },
    ready: untilDone,
    expected: { cancel: 'failed', kill: 'failed', stopAll: 'failed' },
  },
  {
    name: 'exits with a code mid-way',
    spec: { module: fixture('exits-midway') },
    ready: untilDone,
    expected: { cancel: 'failed', kill: 'failed', stopAll: 'failed' },
  },
  {
    name: 'floods progress',
    spec: { module: fixture('floods-progress'), input: { total: 1e12 } },
    ready: untilProgress,
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
  },
  {
    name: 'command, cooperative (sleep)',
    spec: { command: 'sleep', args: ['1000'] },
    ready: untilRunning,
    expected: { cancel: 'cancelled', kill: 'killed', stopAll: 'cancelled' },
  },
  {
    name: 'command ignoring SIGTERM with a grandchild',
    spec: { command: 'sh', args: ['-c', "trap '' TERM; sleep 1000 & echo started; while :; do sleep 0.05; done"] },
    ready: untilLogged('started'),
    expected: { cancel: 'killed', kill: 'killed', stopAll: 'killed' },
    escalates: true,
  },
];

async function perform(task: Task, op: Op): Promise<void> {
  if (op === 'cancel') task.cancel();
  else if (op === 'kill') task.kill();
  else if (op === 'restart') task.restart();
  else await sup.stopAll();
}

function expectGroupGone(pid: number | undefined, extraPids: number[] = []): void {
  expect(pid).toBeTypeOf('number');
  expect(liveInGroup(pid!)).toEqual([]);
  for (const p of extraPids) expect(isAlive(p), `pid ${p} should be gone`).toBe(false);
}

function childPids(logs: string[]): number[] {
  return logs.flatMap((l) => /^(?:child|escaped) (\d+)$/.exec(l)?.[1] ?? []).map(Number);
}

describe.each(cases)('$name', (c) => {
  for (const op of ['cancel', 'kill', 'stopAll'] as const) {
    it(`${op} -> ${c.expected[op]}, group empty`, async () => {
      const task = sup.start(c.spec);
      const logs: string[] = [];
      task.on('log', (l) => logs.push(l.line));
      await c.ready(task);
      // Undefined when the task already ended by itself (throws, exits): then the op must be a no-op.
      const pgid = task.pid;
      const t0 = performance.now();
      await perform(task, op);
      const outcome = await task.done;
      const ms = performance.now() - t0;
      expect(outcome.state).toBe(c.expected[op]);
      if (c.expected[op] === 'killed' && c.escalates && op !== 'kill') {
        expect(outcome.escalated).toBe(true);
        expect(outcome.error?.code).toBe('GRACE_EXPIRED');
        expect(ms).toBeGreaterThanOrEqual(GRACE - 5);
      }
      // Generous CI bound: grace plus two seconds.
      expect(ms).toBeLessThan(GRACE + 2000);
      if (pgid !== undefined) expectGroupGone(pgid, childPids(logs));
    });
  }

  it('restart -> attempt 2 runs, attempt 1 fully gone', async () => {
    const task = sup.start(c.spec);
    const logs: string[] = [];
    task.on('log', (l) => logs.push(l.line));
    await c.ready(task);
    const firstPid = task.pid;
    const firstChildren = childPids(logs);
    task.restart();
    await waitFor(
      () =>
        task.attempt === 2 &&
        (task.state === 'running' ||
          (task.state !== 'starting' && task.state !== 'killing' && task.state !== 'queued')),
      10_000,
      'attempt 2',
    );
    if (firstPid !== undefined) expectGroupGone(firstPid, firstChildren);
    task.kill();
    const outcome = await task.done;
    expect(outcome.attempt).toBe(2);
    expect(['killed', 'failed', 'completed']).toContain(outcome.state);
  });
});
