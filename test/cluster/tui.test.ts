/**
 * The real terminal UI (`taskwarden --cluster URL`) in a pseudo-terminal of 80×24, attached to a
 * private Redis with one agent (a separate process, as another machine would be): every task of the
 * cluster with the agent it runs on, and the same keys acting on it there.
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { liveInGroup, waitFor } from '../helpers.js';
import { PtyUi } from '../tui/pty.js';
import { startCluster, type TestCluster } from './helpers.js';
import { startProxy } from './proxy.js';

let cluster: TestCluster;
const uis: PtyUi[] = [];

beforeAll(async () => {
  cluster = await startCluster(1);
}, 60_000);

afterEach(async () => {
  for (const ui of uis.splice(0)) await ui.dispose();
});

afterAll(async () => {
  await cluster?.dispose();
});

const config = {
  templates: [{ name: 'ticker', command: ['/bin/sh', '-c', 'while true; do echo tick; sleep 0.2; done'] }],
};

async function open(url = cluster.url): Promise<PtyUi> {
  const ui = new PtyUi({
    config,
    cols: 80,
    rows: 24,
    args: ['--cluster', url, '--queue', cluster.queue],
    env: { TASKWARDEN_CLUSTER: '' },
  });
  uis.push(ui);
  await ui.waitFor(/Connected to cluster/, 30_000, 'the UI to connect to the cluster');
  return ui;
}

async function runningPid(id: string): Promise<number> {
  return waitFor(
    async () => {
      const task = await cluster.client.get(id);
      return task.state === 'running' && task.pid !== undefined ? task.pid : undefined;
    },
    30_000,
    `task ${id} to run`,
  );
}

describe('the terminal UI attached to a cluster', () => {
  it('shows a task of the cluster with its host, and K kills it on the agent: nothing of it left', async () => {
    const ui = await open();
    const lines = await ui.screen();
    expect(lines[0]).toMatch(/^ taskwarden +● cluster (unix:\/\/)?\/.* queue q/);
    expect(lines[2]).toMatch(/^ID +NAME +HOST +STATE/);
    const task = await cluster.client.submit({ command: '/bin/sh', args: ['-c', 'sleep 1000 & sleep 1000; wait'] });
    const pid = await runningPid(task.id);
    const row = await ui.waitForRow(task.id, 'running');
    expect(row).toMatch(new RegExp(`^${task.id} +sh +a1 +`));
    for (const line of await ui.screen()) expect([...line].length).toBeLessThanOrEqual(80);
    await waitFor(() => liveInGroup(pid).length >= 2, 10_000, 'both sleeps of the task');

    const before = ui.mark();
    ui.write('K');
    await ui.waitForRowOutput(before, task.id, 'killing', 10_000);
    await ui.waitForRow(task.id, '☠ killed', 30_000);
    await ui.waitFor(new RegExp(`Task ${task.id} killed \\(SIGKILL\\) after \\d`), 10_000);
    expect(liveInGroup(pid)).toEqual([]);
    expect((await cluster.client.get(task.id)).state).toBe('killed');
  }, 90_000);

  it('a template starts on the agent; p pauses and resumes it there, l shows its output, s stops everything', async () => {
    const ui = await open();
    ui.write('1');
    await ui.waitFor(/Started task \d+: ticker/, 30_000);
    const id = /Started task (\d+): ticker/.exec(await ui.text())![1];
    const pid = await runningPid(id);
    await ui.waitForRow(id, / a1 +▶? ?.*running/, 30_000);

    ui.write('p');
    await ui.waitForRow(id, 'paused', 30_000);
    await ui.waitFor(new RegExp(`Task ${id} paused: p resumes it`), 10_000);
    expect((await cluster.client.get(id)).state).toBe('paused');
    ui.write('p');
    await ui.waitForRow(id, 'running', 30_000);
    await ui.waitFor(new RegExp(`Task ${id} runs on`), 10_000);

    ui.write('l');
    await ui.waitFor(new RegExp(`log · task ${id} ticker`), 10_000);
    await ui.waitFor((s) => (s.match(/^ tick$/gm) ?? []).length >= 2, 20_000, 'log lines in the pane');
    ui.write('l');
    await ui.waitFor((s) => !s.includes(`log · task ${id}`), 10_000, 'the log pane closed');

    // Details: the agent it runs on, and its current attempt from the task's record.
    ui.write('\r');
    await ui.waitFor(
      (s) =>
        new RegExp(`Task ${id} ticker`).test(s) &&
        /Host +agent a1/.test(s) &&
        /^ Attempts$/m.test(s) &&
        /^ +1 +. running +\d+ /m.test(s),
      10_000,
      'the details page with the host and the attempt',
    );
    ui.write('\x1b');
    await ui.waitFor((s) => !s.includes('Host '), 10_000, 'the table again');

    ui.write('s');
    await ui.waitFor(/Stopped 1 task in \d/, 30_000);
    await ui.waitForRow(id, 'cancelled', 30_000);
    expect(liveInGroup(pid)).toEqual([]);
  }, 90_000);

  it('after losing Redis, the UI catches up with what happened meanwhile (the events of then are lost)', async () => {
    const path = `${cluster.dir}/ui-proxy.sock`;
    let proxy = await startProxy(path, cluster.redis.socket);
    const ui = await open(proxy.url);
    const task = await cluster.client.submit({ command: '/bin/sh', args: ['-c', 'sleep 1000'] });
    const pid = await runningPid(task.id);
    await ui.waitForRow(task.id, 'running');
    // The UI's connections drop and cannot come back; meanwhile the task is killed from elsewhere.
    await proxy.close();
    rmSync(path, { force: true });
    await cluster.client.kill(task.id);
    await waitFor(async () => (await cluster.client.get(task.id)).state === 'killed', 30_000, 'the kill');
    expect(liveInGroup(pid)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await ui.row(task.id)).toContain('running');
    proxy = await startProxy(path, cluster.redis.socket);
    try {
      await ui.waitForRow(task.id, '☠ killed', 30_000);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});
