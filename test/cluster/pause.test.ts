/**
 * Pause and resume across the cluster, through the CLI (`pause/resume --cluster`): the agent that
 * holds the job freezes the task with its Supervisor, and thaws it; a task that cannot be paused
 * gets the Supervisor's NOT_PAUSABLE reason back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterTaskSnapshot } from '../../src/cluster/index.js';
import { isAlive, waitFor } from '../helpers.js';
import { clusterCli, startCluster, testFixture, type TestCluster } from './helpers.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(1);
}, 60_000);

afterAll(async () => {
  await cluster?.dispose();
});

const cli = (...args: string[]) => clusterCli(cluster, ...args);

async function progressed(id: string, beyond: number): Promise<ClusterTaskSnapshot> {
  return waitFor(
    async () => {
      const task = await cluster.client.get(id);
      return task.state === 'running' && (task.progress?.fraction ?? 0) > beyond ? task : undefined;
    },
    30_000,
    `task ${id} to progress beyond ${beyond}`,
  );
}

describe('pause and resume on an agent', () => {
  it('pause freezes the task where it is, resume lets it run on; both from the CLI', async () => {
    const { client } = cluster;
    const task = await client.submit({ module: testFixture('cooperative'), input: { steps: 100_000, stepMs: 10 } });
    const running = await progressed(task.id, 0);

    const paused = cli('pause', task.id);
    expect(paused.stderr).toBe('');
    expect(paused.status).toBe(0);
    expect(paused.stdout.trim()).toBe(`task ${task.id}: paused on a1`);
    expect((await client.get(task.id)).state).toBe('paused');
    // Progress sent just before the freeze may still arrive; after that, nothing moves.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const frozen = (await client.get(task.id)).progress?.fraction ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const still = await client.get(task.id);
    expect(still.state).toBe('paused');
    expect(still.progress?.fraction).toBe(frozen);
    expect(isAlive(running.pid!)).toBe(true);
    // Pausing a paused task is nothing (as on one machine).
    expect(cli('pause', task.id).status).toBe(0);

    const resumed = cli('resume', task.id);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout.trim()).toBe(`task ${task.id}: running on a1`);
    await progressed(task.id, frozen);

    // Cancel and kill work on a paused task at once.
    expect(cli('pause', task.id).status).toBe(0);
    await client.kill(task.id);
    await waitFor(async () => (await client.get(task.id)).state === 'killed', 30_000, 'the paused task killed');
    expect(isAlive(running.pid!)).toBe(false);
  }, 90_000);

  it('a task that is not running: NOT_PAUSABLE with the reason, exit 1; an unknown id: exit 2', async () => {
    const { client } = cluster;
    const task = await client.submit({ command: '/bin/true' });
    await waitFor(async () => (await client.get(task.id)).state === 'completed', 30_000, 'the task to complete');
    const pause = cli('pause', task.id);
    expect(pause.status).toBe(1);
    expect(pause.stderr.trim()).toBe(`taskwarden: task ${task.id} is completed: only a running task can be paused`);
    const resume = cli('resume', task.id);
    expect(resume.status).toBe(1);
    expect(resume.stderr.trim()).toBe(`taskwarden: task ${task.id} is completed, not paused: nothing to resume`);
    const unknown = cli('pause', '9999');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no task 9999 in cluster queue q');
  }, 60_000);
});
