/** A new attempt starts from nothing: its snapshots carry no pid, progress, usage or start of the attempt before. */
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor, type SupervisorEvent, type TaskSnapshot } from '../../src/index.js';
import { readProcStat } from '../../src/process/proc.js';
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

describe('events carry the facts', () => {
  it("created, spawned (pid and /proc start time), progress with its attempt, and the restart's ended attempt", async () => {
    sup = new Supervisor({ prewarm: 0, stallAfterMs: Infinity, progressIntervalMs: 0 });
    const events: SupervisorEvent[] = [];
    sup.on('event', (event) => {
      if (event.type === 'spawned') {
        // Read while the process surely lives: the event's start time must be this process's.
        expect(readProcStat(event.pid)?.startTime).toBe(event.startTime);
      }
      if (event.type !== 'log' && event.type !== 'usage') events.push(event);
    });
    const task = sup.start({ module: fixture('cooperative'), input: { steps: 100_000, stepMs: 20 } });
    expect(events[0]).toMatchObject({ type: 'created', task: { id: task.id, state: 'queued', attempt: 1 } });
    await waitFor(() => task.progress !== undefined, 20_000, 'attempt 1 progress');
    task.restart();
    await waitFor(() => task.attempt === 2 && task.progress !== undefined, 20_000, 'attempt 2 progress');
    task.kill();
    await task.done;

    const spawned = events.filter((e) => e.type === 'spawned');
    expect(spawned.map((e) => e.attempt)).toEqual([1, 2]);
    expect(new Set(spawned.map((e) => e.pid)).size).toBe(2);
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.some((e) => e.attempt === 1) && progress.some((e) => e.attempt === 2)).toBe(true);
    // Every progress event says its attempt: none of attempt 1 after attempt 2 began.
    const secondBegan = events.findIndex((e) => e.type === 'state' && e.task.attempt === 2);
    expect(progress.filter((e) => events.indexOf(e) > secondBegan).every((e) => e.attempt === 2)).toBe(true);
    const newAttempt = events[secondBegan] as Extract<SupervisorEvent, { type: 'state' }>;
    expect(newAttempt).toMatchObject({
      previous: 'killing',
      endedAttempt: { attempt: 1, state: 'killed', stopReason: 'restart' },
    });
    // Only the first state event of attempt 2 carries it.
    expect(events.filter((e) => e.type === 'state' && e.endedAttempt)).toHaveLength(1);
    // The spawn of an attempt comes after its 'starting' state and before its 'running'.
    const order = events
      .filter((e) => (e.type === 'state' && e.task.attempt === 2) || (e.type === 'spawned' && e.attempt === 2))
      .map((e) => (e.type === 'state' ? e.task.state : 'spawned'));
    expect(order.slice(0, 3)).toEqual(['starting', 'spawned', 'running']);
  });
});
