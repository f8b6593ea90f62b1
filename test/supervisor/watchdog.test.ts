/** The stall watchdog: diagnosis from CPU time, policies, and bounded restarts. */
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor, type StallInfo } from '../../src/index.js';
import { fixture, waitFor } from '../helpers.js';

let sup: Supervisor;
afterEach(async () => {
  await sup?.shutdown();
});

describe('stall watchdog', () => {
  it("diagnoses a silent task burning CPU as 'spinning'", async () => {
    sup = new Supervisor({ prewarm: 0, stallAfterMs: 600, graceMs: 200 });
    const t = sup.start({ module: fixture('silent'), input: { spin: true } });
    const stall = await new Promise<StallInfo>((r) => t.once('stall', r));
    expect(stall.diagnosis).toBe('spinning');
    expect(stall.silentForMs).toBeGreaterThanOrEqual(600);
    expect(t.state).toBe('running'); // 'warn' only reports
  });

  it("diagnoses a silent idle task as 'blocked'", async () => {
    sup = new Supervisor({ prewarm: 0, stallAfterMs: 400 });
    const t = sup.start({ module: fixture('silent') });
    const stall = await new Promise<StallInfo>((r) => t.once('stall', r));
    expect(stall.diagnosis).toBe('blocked');
  });

  it("onStall 'kill' kills a task stuck in a sync loop", async () => {
    sup = new Supervisor({ prewarm: 0, stallAfterMs: 400, onStall: 'kill' });
    const outcome = await sup.start({ module: fixture('sync-loop') }).done;
    expect(outcome).toMatchObject({ state: 'killed', stopReason: 'stall' });
  });

  it("onStall 'restart' restarts with backoff, then gives up after maxRestarts", async () => {
    sup = new Supervisor({ prewarm: 0, stallAfterMs: 300, onStall: 'restart', maxRestarts: 2, restartBackoffMs: 50 });
    const t = sup.start({ module: fixture('silent') });
    const outcome = await t.done;
    expect(outcome).toMatchObject({
      state: 'killed',
      stopReason: 'stall',
      attempt: 3,
      error: { code: 'RESTART_LIMIT' },
    });
  });

  it('heartbeats keep a task from being reported stalled', async () => {
    sup = new Supervisor({ prewarm: 0, stallAfterMs: 300, graceMs: 200 });
    const t = sup.start({ module: fixture('ignores-cancel') }); // heartbeats every 50 ms
    let stalled = false;
    t.on('stall', () => (stalled = true));
    await waitFor(() => t.state === 'running', 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(stalled).toBe(false);
  });
});
