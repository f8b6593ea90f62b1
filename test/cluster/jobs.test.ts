/**
 * Jobs across three agents (real processes, a private redis-server): every job runs exactly once,
 * the work spreads over the agents, and the CLI's --cluster commands show and follow it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterTaskSnapshot } from '../../src/cluster/index.js';
import { waitFor } from '../helpers.js';
import { clusterCli, clusterFixture, startCluster, type TestCluster } from './helpers.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
}, 60_000);

afterAll(async () => {
  await cluster?.dispose();
});

const cli = (...args: string[]) => clusterCli(cluster, ...args);

describe('a cluster of three agents', () => {
  it('runs 100 jobs spread over the agents, each exactly once', async () => {
    const { client, dir } = cluster;
    const submitted: ClusterTaskSnapshot[] = [];
    for (let i = 0; i < 100; i++)
      submitted.push(await client.submit({ module: clusterFixture('exclusive'), input: { dir, ms: 20 } }));
    expect(new Set(submitted.map((t) => t.id)).size).toBe(100);
    await waitFor(async () => (await client.list()).length === 0, 120_000, 'every job to finish');
    const tasks = await Promise.all(submitted.map((t) => client.get(t.id)));
    expect(tasks.map((t) => t.state)).toEqual(tasks.map(() => 'completed'));
    expect(tasks.every((t) => t.attempt === 1)).toBe(true);
    // Exactly once, seen from the tasks themselves: one start and one end per task.
    const starts = cluster.lines('starts').map((line) => line.split(' ')[0]);
    const ends = cluster.lines('done').map((line) => line.split(' ')[0]);
    expect(starts.sort()).toEqual(submitted.map((t) => t.id).sort());
    expect(ends.sort()).toEqual(submitted.map((t) => t.id).sort());
    expect(cluster.lines('violations')).toEqual([]);
    const hosts = new Set(tasks.map((t) => t.host));
    expect([...hosts].sort()).toEqual(['a1', 'a2', 'a3']);
    // Results come back with the task, through BullMQ and the record alike.
    expect(tasks[0].outcome?.result).toEqual({ pid: expect.any(Number) });
  }, 180_000);

  it('run --cluster --wait follows a task on an agent to its end: output, progress, exit code', () => {
    const ok = cli('run', '--wait', '--', 'sh', '-c', 'echo hello from $0; echo \'{"progress": 0.5}\'; echo bye >&2');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/hello from \S*sh\n/);
    expect(ok.stderr).toContain('bye');
    expect(ok.stderr).toMatch(/task \d+ completed/);
    const failed = cli('run', '--wait', '--', 'sh', '-c', 'exit 3');
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/task \d+ failed/);
  }, 60_000);

  it('ls, show, logs and history --cluster read the cluster, with the host of every task', async () => {
    const task = await cluster.client.submit({
      command: '/bin/sh',
      args: ['-c', 'echo line one; echo line two; sleep 600'],
      name: 'sleeper',
    });
    await waitFor(async () => (await cluster.client.get(task.id)).state === 'running', 30_000, 'the task to run');
    const ls = cli('ls');
    expect(ls.status).toBe(0);
    expect(ls.stdout).toMatch(/ID\s+STATE\s+PROGRESS\s+ATTEMPT\s+HOST/);
    expect(ls.stdout).toMatch(new RegExp(`${task.id}\\s+running\\s+-\\s+1\\s+a[123]\\s+\\d+`));
    const show = cli('show', task.id);
    expect(show.stdout).toContain(`task ${task.id} (sleeper): running`);
    expect(show.stdout).toMatch(/host a[123], BullMQ job t\d+ of queue q/);
    await waitFor(() => cli('logs', task.id).stdout.includes('line two'), 20_000, 'the output in BullMQ');
    expect(cli('logs', task.id).stdout).toBe('line one\nline two\n');
    const kill = cli('kill', task.id);
    // Said at once: still killing on its agent, or already killed (a SIGKILL takes milliseconds).
    expect(kill.stdout).toMatch(new RegExp(`task ${task.id}: (killing on a[123]|killed)\n`));
    await waitFor(async () => (await cluster.client.get(task.id)).state === 'killed', 20_000, 'the kill');
    const history = cli('history', '--limit', '3');
    expect(history.stdout).toMatch(new RegExp(`${task.id}\\s+killed\\s+.*a[123]`));
    const json = JSON.parse(cli('ls', '--all', '--json').stdout) as Array<{ id: string; host?: string }>;
    expect(json.find((t) => t.id === task.id)?.host).toMatch(/^a[123]$/);
    const restarted = cli('restart', task.id);
    expect(restarted.stdout).toBe(`task ${task.id}: restarting (attempt 2, on any agent)\n`);
    await waitFor(async () => (await cluster.client.get(task.id)).state === 'running', 30_000, 'attempt 2 to run');
    const stopAll = cli('stop-all');
    expect(stopAll.status).toBe(0);
    expect(stopAll.stdout).toMatch(
      /^stopped in [\d.]+ m?s on 3 agent\(s\) \(a1, a2, a3\): 1 cancelled, 0 killed, 0 never started, 0 finished on their own\n$/,
    );
    const unknown = cli('show', '99999');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no task 99999 in cluster queue q');
  }, 90_000);
});
