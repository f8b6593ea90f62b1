/**
 * A bounded randomized test: hundreds of interleaved start/cancel/kill/restart/stopAll
 * operations on real processes. Every task ends in exactly one terminal state, every
 * promise settles, and no process of any attempt survives.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Supervisor, isTerminalState, type Task, type TaskSpec } from '../../src/index.js';
import { fixture, liveInGroup, sleep } from '../helpers.js';

const specs: TaskSpec[] = [
  { module: fixture('cooperative'), input: { steps: 20, stepMs: 10 } },
  { module: fixture('sync-loop') },
  { module: fixture('echo') },
  { module: fixture('ignores-cancel') },
  { module: fixture('throws') },
  { module: fixture('grandchildren') },
  { command: 'sleep', args: ['0.2'] },
];

type Op =
  | { op: 'start'; spec: number }
  | { op: 'cancel' | 'kill' | 'restart'; task: number }
  | { op: 'stopAll' }
  | { op: 'wait'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('start' as const), spec: fc.nat(specs.length - 1) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constantFrom('cancel' as const, 'kill' as const, 'restart' as const),
      task: fc.nat(30),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stopAll' as const) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }) },
);

describe('randomized interleavings', () => {
  it('every task ends in exactly one terminal state, every promise settles, no orphan', async () => {
    let totalOps = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 40, maxLength: 70 }), async (ops) => {
        const sup = new Supervisor({ concurrency: 3, graceMs: 150, prewarm: 1, stallAfterMs: Infinity });
        const tasks: Task[] = [];
        const pids = new Set<number>();
        const terminalEntries = new Map<string, number>();
        const violations: string[] = [];
        const stopAlls: Array<Promise<unknown>> = [];
        try {
          for (const op of ops) {
            totalOps += 1;
            if (op.op === 'start') {
              const t = sup.start(specs[op.spec]);
              t.on('state', (s, previous) => {
                if (s.pid) pids.add(s.pid);
                if (isTerminalState(s.state)) terminalEntries.set(t.id, (terminalEntries.get(t.id) ?? 0) + 1);
                // Once ended, the only way on is a restart (back to queued): never a second ending.
                if (isTerminalState(previous) && s.state !== 'queued')
                  violations.push(`task ${t.id}: ${previous} -> ${s.state}`);
              });
              tasks.push(t);
            } else if (op.op === 'stopAll') {
              stopAlls.push(sup.stopAll());
            } else if (op.op === 'wait') {
              await sleep(op.ms);
            } else if (tasks.length > 0) {
              tasks[op.task % tasks.length][op.op]();
            }
            for (const t of tasks) if (t.pid) pids.add(t.pid);
          }
          const final = await sup.stopAll();
          expect(final.ms).toBeLessThan(10_000);
          const results = await Promise.all([...stopAlls, ...tasks.map((t) => t.done)]);
          expect(results).toHaveLength(stopAlls.length + tasks.length);
          for (const t of tasks) {
            expect(isTerminalState(t.state), `task ${t.id} is ${t.state}`).toBe(true);
            // At least one ending, and never more endings than attempts (restarts of finished tasks add runs).
            expect(terminalEntries.get(t.id) ?? 0).toBeGreaterThanOrEqual(1);
            expect(terminalEntries.get(t.id)!).toBeLessThanOrEqual(t.attempt);
          }
          expect(violations).toEqual([]);
          for (const pid of pids) expect(liveInGroup(pid), `group ${pid}`).toEqual([]);
        } finally {
          await sup.shutdown();
        }
      }),
      { numRuns: 8 },
    );
    expect(totalOps).toBeGreaterThanOrEqual(200);
  });
});
