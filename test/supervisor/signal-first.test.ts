/**
 * Signal first: no listener runs between a stop decision and its signal. A listener that blocks
 * its thread for 500 ms on every event must not delay the kill: while it still blocks, the task
 * process is already dead (a zombie or gone, read from /proc).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/index.js';
import { fixture, isAlive, waitFor } from '../helpers.js';

const BLOCK_MS = 500;

function blockFor(ms: number, until?: () => boolean): number {
  const start = performance.now();
  while (performance.now() - start < ms) if (until?.()) break;
  return performance.now() - start;
}

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.shutdown();
  sup = undefined;
});

describe('signal before listeners', () => {
  // kill: SIGKILL to a task stuck in a sync loop; cancel: SIGTERM to a program that dies of it.
  for (const how of ['kill', 'cancel'] as const) {
    it(`${how}(): the process is gone while a 500 ms listener still blocks (sup and task listeners)`, async () => {
      sup = new Supervisor({ prewarm: 0 });
      const task =
        how === 'kill' ? sup.start({ module: fixture('sync-loop') }) : sup.start({ command: 'sleep', args: ['60'] });
      if (how === 'kill') await waitFor(() => task.progress, 20_000, 'the sync loop to run');
      else await waitFor(() => task.state === 'running' && task.pid, 20_000, 'sleep to run');
      const pid = task.pid!;
      let calledAt = 0;
      let deadAfterMs: number | undefined;
      const slowListener = () => {
        if (calledAt === 0 || deadAfterMs !== undefined) return blockFor(BLOCK_MS);
        // The first event after the call: see, inside the listener, how soon the process is dead.
        blockFor(BLOCK_MS, () => {
          if (deadAfterMs === undefined && !isAlive(pid)) deadAfterMs = performance.now() - calledAt;
          return false;
        });
      };
      sup.on('event', slowListener);
      task.on('state', slowListener);
      calledAt = performance.now();
      if (how === 'kill') task.kill();
      else task.cancel();
      const outcome = await task.done;
      expect(outcome.state).toBe(how === 'kill' ? 'killed' : 'cancelled');
      // Before signal-first the listeners ran before the signal: the process lived through them all.
      expect(deadAfterMs, 'the task process was still alive while the first listener blocked').toBeDefined();
      expect(deadAfterMs!).toBeLessThan(BLOCK_MS);
    });
  }
});
