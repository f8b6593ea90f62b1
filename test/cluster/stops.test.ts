/**
 * Stops from a client to tasks running on agents (other processes, as other machines would be):
 * cancel, kill and restart, a task stuck in a sync loop, one that ignores SIGTERM, a job stopped
 * before it started, and the emergency stop with jobs queued and running on every agent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterTaskSnapshot } from '../../src/cluster/index.js';
import { isAlive, waitFor } from '../helpers.js';
import {
  clusterFixture,
  running as runningIn,
  started as startedIn,
  startCluster,
  testFixture,
  type TestCluster,
} from './helpers.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
}, 60_000);

afterAll(async () => {
  await cluster?.dispose();
});

function running(id: string, attempt = 1): Promise<ClusterTaskSnapshot> {
  return runningIn(cluster, id, attempt);
}

function started(id: string, attempt: number): Promise<{ pid: number }> {
  return startedIn(cluster, id, attempt);
}

async function ended(id: string): Promise<ClusterTaskSnapshot> {
  return waitFor(
    async () => {
      const task = await cluster.client.get(id);
      return task.state !== 'running' && task.outcome ? task : undefined;
    },
    30_000,
    `task ${id} to end`,
  );
}

describe('stops across the cluster', () => {
  it('cancel reaches a cooperative task on its agent: abort signal, cleanup, cancelled', async () => {
    const { client } = cluster;
    const task = await client.submit({ module: testFixture('cooperative'), input: { steps: 3000, stepMs: 10 } });
    const { pid } = await running(task.id);
    const reply = await client.cancel(task.id);
    expect(reply.previous).toBe('running');
    const end = await ended(task.id);
    expect(end.state).toBe('cancelled');
    expect(end.outcome?.stopReason).toBe('cancel');
    expect(isAlive(pid!)).toBe(false);
  }, 60_000);

  it('kill stops a task stuck in a synchronous loop at once (SIGKILL to its group)', async () => {
    const { client } = cluster;
    const task = await client.submit({ module: testFixture('sync-loop') });
    const { pid } = await running(task.id);
    await client.kill(task.id);
    const end = await ended(task.id);
    expect(end.state).toBe('killed');
    expect(end.outcome?.signal).toBe('SIGKILL');
    expect(isAlive(pid!)).toBe(false);
  }, 60_000);

  it('cancel of a task that ignores SIGTERM escalates to SIGKILL after the grace period, without the task', async () => {
    const { client } = cluster;
    const task = await client.submit({ module: testFixture('ignores-cancel') });
    const { pid } = await running(task.id);
    const at = Date.now();
    await client.cancel(task.id);
    const end = await ended(task.id);
    expect(end.state).toBe('killed');
    expect(end.outcome?.escalated).toBe(true);
    expect(end.outcome?.error?.code).toBe('GRACE_EXPIRED');
    expect(end.endedAt! - at).toBeGreaterThanOrEqual(1400); // the agents' grace: 1500 ms
    expect(isAlive(pid!)).toBe(false);
  }, 60_000);

  it('restart kills the attempt and runs the next one, on any agent, never both at once', async () => {
    const { client, dir } = cluster;
    const task = await client.submit({ module: clusterFixture('exclusive'), input: { dir, ms: 60_000 } });
    const first = await running(task.id);
    // The task's own word that attempt 1 runs: the record says running from the spawn, before the
    // module's first line, and a restart that came first would leave attempt 1 without a start.
    expect((await started(task.id, 1)).pid).toBe(first.pid);
    const reply = await client.restart(task.id);
    expect(reply.previous).toBe('running');
    const second = await running(task.id, 2);
    expect(second.pid).not.toBe(first.pid);
    expect(isAlive(first.pid!)).toBe(false);
    expect((await started(task.id, 2)).pid).toBe(second.pid);
    expect(cluster.lines('done').filter((line) => line.startsWith(`${task.id} `))).toEqual([]);
    // A finished task runs again too, as its next attempt.
    await client.kill(task.id);
    expect((await ended(task.id)).state).toBe('killed');
    await client.restart(task.id);
    const third = await running(task.id, 3);
    await client.kill(task.id);
    await ended(task.id);
    expect(isAlive(third.pid!)).toBe(false);
    expect(cluster.lines('violations')).toEqual([]);
  }, 90_000);

  it('the emergency stop: queued jobs never start, running ones stop on every agent, and it resolves when they are gone', async () => {
    const { client, dir } = cluster;
    // Six slots (three agents, two each): six long tasks fill them, four more wait.
    const longs = [];
    for (let i = 0; i < 6; i++)
      longs.push(await client.submit({ module: clusterFixture('exclusive'), input: { dir, ms: 120_000 } }));
    const queued = [];
    for (let i = 0; i < 4; i++)
      queued.push(await client.submit({ module: clusterFixture('exclusive'), input: { dir, ms: 10 } }));
    const runningTasks = await Promise.all(longs.map((t) => running(t.id)));
    expect(new Set(runningTasks.map((t) => t.host))).toEqual(new Set(['a1', 'a2', 'a3']));
    // A stop of one queued job: it never starts.
    const single = await client.cancel(queued[0].id);
    expect(single.task.state).toBe('cancelled');
    expect(single.task.outcome?.error?.code).toBe('NOT_STARTED');

    const result = await client.stopAll();
    expect(Object.keys(result.agents).sort()).toEqual(['a1', 'a2', 'a3']);
    expect(result.missing).toEqual([]);
    expect(result.notStarted).toBe(3);
    expect(result.cancelled + result.killed).toBe(6);
    // Resolved means gone: every process of every running task.
    for (const task of runningTasks) expect(isAlive(task.pid!)).toBe(false);
    const after = await Promise.all([...longs, ...queued].map((t) => client.get(t.id)));
    expect(after.map((t) => t.state).sort()).toEqual([...Array(6).fill('cancelled'), ...Array(4).fill('cancelled')]);
    const started = new Set(cluster.lines('starts').map((line) => line.split(' ')[0]));
    for (const task of queued) expect(started.has(task.id)).toBe(false);
    // The queue hands out jobs again afterwards.
    const next = await client.submit({ command: '/bin/true' });
    await waitFor(
      async () => (await client.get(next.id)).state === 'completed',
      30_000,
      'a job after the emergency stop',
    );
    expect(cluster.lines('violations')).toEqual([]);
  }, 120_000);
});
