/**
 * The web page attached to a cluster (`taskwarden web --cluster URL`), in Chromium: a private
 * redis-server and one agent in its own process (test/cluster/helpers.ts); a job shows with its
 * host, a template started from the page runs on the agent, and Kill from the page ends it there
 * with nothing of it left in /proc; Redis restarting is shown, and the page carries on once it is back.
 */
import { spawn } from 'node:child_process';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultTemplates } from '../../src/tasks/templates.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { CLI, running as runningOnAgent, startCluster, type TestCluster } from '../cluster/helpers.js';
import { runCli, tempHome } from '../daemon/helpers.js';
import { isAlive, liveInGroup, waitFor } from '../helpers.js';
import { isFrozen, launchBrowser, stateText, waitForState } from './helpers.js';

let browser: Browser;
let cluster: TestCluster;
let web: WebServer;
const webLog: string[] = [];
let page: Page | undefined;

beforeAll(async () => {
  [browser, cluster] = await Promise.all([launchBrowser(), startCluster(1)]);
  web = await startWebServer({
    port: 0,
    cluster: { url: cluster.url, queue: cluster.queue },
    templates: await defaultTemplates(),
    log: (line) => webLog.push(line),
  });
}, 90_000);

afterAll(async () => {
  await web?.close();
  await browser?.close();
  await cluster?.dispose();
});

afterEach(async () => {
  await page?.close();
  page = undefined;
});

async function openPage(): Promise<Page> {
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 800 });
  await page.goto(web.url);
  await page.waitForSelector('#daemon[data-up="true"]', { timeout: 20_000 });
  return page;
}

const cell = (page: Page, id: string, name: string) =>
  page.$eval(`#task-rows tr[data-id="${id}"] td.${name}`, (el) => el.textContent ?? '').catch(() => '');

/** The task's pid once it runs on the agent. */
async function running(id: string): Promise<number> {
  return (await runningOnAgent(cluster, id)).pid!;
}

describe('the web page attached to a cluster', () => {
  it("shows the cluster's jobs with their host, and Pause and Resume reach its agent, Kill from the page ends it there", async () => {
    const page = await openPage();
    expect(await page.$eval('#daemon', (el) => el.textContent)).toMatch(/^cluster \S+ · queue q · agents a1$/);
    expect(await page.$eval('#tasks th.host', (el) => getComputedStyle(el).display)).not.toBe('none');
    const submitted = await cluster.client.submit({
      command: '/bin/sh',
      args: ['-c', 'while :; do :; done'],
      name: 'spinner',
    });
    const pid = await running(submitted.id);
    await waitForState(page, submitted.id, /running/);
    await waitFor(async () => (await cell(page, submitted.id, 'host')) === 'a1', 20_000, 'the host a1 in its row');
    // Pause reaches the agent that holds the job: its processes are frozen there, then run again.
    await page.click(`#task-rows tr[data-id="${submitted.id}"] button.pause`);
    await waitForState(page, submitted.id, /⏸ paused/, 30_000);
    await waitFor(() => liveInGroup(pid).every(isFrozen), 10_000, 'the task frozen on its agent');
    await page.click(`#task-rows tr[data-id="${submitted.id}"] button.resume`);
    await waitForState(page, submitted.id, /running/, 30_000);
    await waitFor(() => !liveInGroup(pid).some(isFrozen), 10_000, 'the task running again on its agent');

    await page.click(`#task-rows tr[data-id="${submitted.id}"] button.kill`);
    expect(await stateText(page, submitted.id)).toMatch(/killing…|killed/);
    await waitForState(page, submitted.id, /☠ killed/, 30_000);
    expect(await page.$eval('#status', (el) => el.textContent)).toMatch(
      new RegExp(`Task ${submitted.id} killed \\(SIGKILL\\) after \\d`),
    );
    await waitFor(() => !isAlive(pid), 10_000, 'the killed task to be gone');
    expect(liveInGroup(pid)).toEqual([]);
    expect((await cluster.client.get(submitted.id)).state).toBe('killed');
  }, 90_000);

  it('starts a template on the agent from the page; its row shows the host, Kill ends it there', async () => {
    const page = await openPage();
    const before = new Set(await page.$$eval('#task-rows tr[data-id]', (rows) => rows.map((r) => r.dataset.id)));
    await page.click('button.template[data-template="4"]'); // stuck in a synchronous loop
    const id = await waitFor(
      async () =>
        (await page.$$eval('#task-rows tr[data-id]', (rows) => rows.map((r) => r.dataset.id!))).find(
          (rowId) => !before.has(rowId),
        ),
      20_000,
      'a row for the template',
    );
    const pid = await running(id);
    await waitForState(page, id, /running/);
    await waitFor(async () => (await cell(page, id, 'host')) === 'a1', 20_000, 'the host a1 in its row');
    await page.click(`#task-rows tr[data-id="${id}"] button.kill`);
    await waitForState(page, id, /☠ killed/, 30_000);
    await waitFor(() => !isAlive(pid), 10_000, 'the killed task to be gone');
    expect(liveInGroup(pid)).toEqual([]);
  }, 90_000);

  it('says when Redis stops answering, and carries on once it answers again', async () => {
    const page = await openPage();
    // Down for 4 s: the link's reads (every second, 2 s to answer) notice it.
    const restarted = cluster.redis.restart(4000);
    await page.waitForSelector('#daemon[data-up="false"]', { timeout: 20_000 });
    expect(await page.$eval('#daemon', (el) => el.textContent)).toMatch(/cluster's Redis .* not answering since/);
    expect(await page.$eval('#start-daemon', (el) => (el as HTMLElement).hidden)).toBe(true);
    await restarted;
    await page.waitForSelector('#daemon[data-up="true"]', { timeout: 30_000 });
    const submitted = await cluster.client.submit({ command: '/bin/sh', args: ['-c', 'exit 0'], name: 'after' });
    await waitForState(page, submitted.id, /completed/, 30_000);
    expect(webLog.some((line) => line.includes('is not answering'))).toBe(true);
  }, 90_000);

  it('taskwarden web --cluster URL (or $TASKWARDEN_CLUSTER) prints the address; a bad URL is one line and exit 2', async () => {
    const { home, cleanup } = tempHome();
    try {
      const child = spawn(process.execPath, [CLI, '--home', home, '--queue', cluster.queue, 'web', '--port', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TASKWARDEN_CLUSTER: cluster.url },
      });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.stderr.on('data', (chunk) => (out += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await waitFor(() => /^ {2}http:\/\/127\.0\.0\.1:\d+\/\?token=\S+$/m.test(out), 20_000, `the address (${out})`);
        expect(out).toContain(`taskwarden web: serving the tasks of the cluster at ${cluster.url} at`);
        expect(out).toContain('the tasks keep running in the agents');
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      const bad = await runCli(home, '--cluster', 'http://nowhere', 'web', '--port', '0');
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toMatch(
        /^taskwarden: "http:\/\/nowhere" is not a Redis address \(.*\): give redis:\/\/HOST:PORT/,
      );
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      cleanup();
    }
  }, 60_000);
});
