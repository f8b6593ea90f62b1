/** A new attempt starts from nothing: its snapshots carry no pid, progress, usage or start of the attempt before. */
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor, type TaskSnapshot } from '../../src/index.js';
import { fixture, waitFor } from '../helpers.js';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

describe('attempts', () => {
  it("restart: attempt 2 is announced without attempt 1's pid, progress, usage or start time", async () => {
    sup = new Supervisor({ prewarm: 0, sampleIntervalMs: 50, stallAfterMs: Infinity });
    const task = sup.start({ module: fixture('silent'), input: { spin: true } });
    await waitFor(() => task.state === 'running' && task.usage, 20_000, 'attempt 1 sampled');
    const seen: TaskSnapshot[] = [];
    task.on('state', (snapshot) => {
      if (snapshot.attempt === 2) seen.push(snapshot);
    });
    const first = task.pid;
    task.restart();
    await waitFor(() => task.state === 'running' && task.attempt === 2, 20_000, 'attempt 2 running');
    const before = seen.filter((s) => s.state !== 'running');
    expect(before.length).toBeGreaterThan(0);
    for (const snapshot of before) {
      expect(snapshot).not.toHaveProperty('progress');
      expect(snapshot).not.toHaveProperty('usage');
      expect(snapshot).not.toHaveProperty('startedAt');
      expect(snapshot.pid).not.toBe(first);
    }
    task.kill();
    await task.done;
  });
});
