/**
 * The web page in a real browser (Debian's Chromium, headless) against a real daemon in a child
 * process: start a task, watch it move, kill a task stuck in a sync loop, the emergency stop, the
 * daemon SIGKILLed and started again while the page is open, the refusals (no token, a foreign
 * Origin, a foreign Host), and names and log lines that look like HTML staying text.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/daemon/client.js';
import { isAlive, liveInGroup, sleep, waitFor } from '../helpers.js';
import { isFrozen, launchBrowser, openPage, startStack, stateText, waitForState, type Stack } from './helpers.js';

/** A name the resolver of this browser maps to 127.0.0.1: a DNS-rebinding page's view of the server. */
const REBIND_NAME = 'rebind.test';

let browser: Browser;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  browser = await launchBrowser([`--host-resolver-rules=MAP ${REBIND_NAME} 127.0.0.1`]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function stackWithPage(daemonArgs?: string[]): Promise<{ stack: Stack; page: Page }> {
  const stack = await startStack(daemonArgs);
  cleanups.push(() => stack.close());
  const page = await openPage(browser, stack.web);
  cleanups.push(() => page.close());
  return { stack, page };
}

/** Clicks a template button; resolves with the new task's id (the row the page added). */
async function startTemplate(page: Page, key: number): Promise<string> {
  const before = new Set(await rowIds(page));
  await page.click(`button.template[data-template="${key}"]`);
  return waitFor(async () => (await rowIds(page)).find((id) => !before.has(id)), 20_000, `a row for template ${key}`);
}

function rowIds(page: Page): Promise<string[]> {
  return page.$$eval('#task-rows tr[data-id]', (rows) => rows.map((row) => (row as HTMLElement).dataset.id!));
}

/** Every text the state cell of a task shows from now on, in order. */
async function recordStates(page: Page, taskId: string): Promise<() => Promise<string[]>> {
  await page.evaluate((id) => {
    const cell = document.querySelector(`#task-rows tr[data-id="${id}"] .state-text`)!;
    const seen: string[] = [];
    (window as unknown as Record<string, string[]>)[`states${id}`] = seen;
    new MutationObserver(() => seen.push(cell.textContent ?? '')).observe(cell, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  }, taskId);
  return () => page.evaluate((id) => (window as unknown as Record<string, string[]>)[`states${id}`], taskId);
}

async function taskPid(home: string, taskId: string): Promise<number> {
  const client = await DaemonClient.connect({ home, autostart: false });
  try {
    return await waitFor(
      async () => ((await client.request('GET', { taskId })).task as { pid?: number }).pid,
      10_000,
      `task ${taskId}'s pid`,
    );
  } finally {
    client.close();
  }
}

describe('the web page in Chromium', () => {
  it('opens with the token, starts a template and shows its progress moving', async () => {
    const { stack, page } = await stackWithPage(['--concurrency', '3']);
    // The token went into a cookie and out of the address.
    expect(new URL(page.url()).search).toBe('');
    const id = await startTemplate(page, 7); // steady worker: 300 steps of 100 ms
    await waitForState(page, id, /running/);
    const percent = () =>
      page.$eval(`#task-rows tr[data-id="${id}"] .percent`, (el) => Number.parseInt(el.textContent || '0', 10));
    const first = await waitFor(
      async () => ((await percent()) > 0 ? percent() : undefined),
      20_000,
      'progress above 0%',
    );
    await waitFor(async () => (await percent()) >= first + 2, 20_000, 'the progress to move on');
    const message = await page.$eval(`#task-rows tr[data-id="${id}"] .message`, (el) => el.textContent);
    expect(message).toMatch(/^step \d+\/300$/);
    expect(await page.$eval('#daemon', (el) => el.textContent)).toContain(`pid ${stack.daemon.child.pid}`);

    const shot = process.env.UPDATE_SCREENSHOT
      ? fileURLToPath(new URL('../../docs/web-page.png', import.meta.url))
      : `${stack.home}/web-page.png`;
    // The picture for the README: a task killed from the page, one running with its log open.
    const stuck = await startTemplate(page, 4);
    const shell = await startTemplate(page, 9);
    await startTemplate(page, 6);
    await waitForState(page, stuck, /running/);
    await page.click(`#task-rows tr[data-id="${stuck}"] button.kill`);
    await waitForState(page, stuck, /killed/);
    await page.click(`#task-rows tr[data-id="${shell}"] td.name`);
    await waitFor(
      async () => /log line 3/.test((await page.$eval('#details-log', (el) => el.textContent)) ?? ''),
      20_000,
      'the shell task to log',
    );
    await page.setViewport({ width: 1400, height: 640 });
    await page.screenshot({ path: shot });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
  });

  it('kill of a task stuck in a sync loop: killing… at once, then killed, and nothing of it left in /proc', async () => {
    const { stack, page } = await stackWithPage();
    const id = await startTemplate(page, 4); // stuck in a synchronous loop
    await waitForState(page, id, /running/);
    const pid = await taskPid(stack.home, id);
    const states = await recordStates(page, id);
    await page.click(`#task-rows tr[data-id="${id}"] button.kill`);
    // The click handler itself writes the label: it is there when the click returns.
    expect(await stateText(page, id)).toMatch(/killing…|killed/);
    await waitForState(page, id, /☠ killed/);
    const seen = await states();
    expect(seen[0]).toBe('killing…');
    expect(seen.at(-1)).toBe('☠ killed');
    expect(await page.$eval('#status', (el) => el.textContent)).toMatch(
      new RegExp(`Task ${id} killed \\(SIGKILL\\) after \\d`),
    );
    const metric = await page.evaluate(
      () =>
        (window as unknown as { taskwarden: { metrics: Array<{ clickToShownMs?: number }> } }).taskwarden.metrics[0],
    );
    expect(metric?.clickToShownMs).toBeGreaterThanOrEqual(0);
    expect(isAlive(pid)).toBe(false);
    expect(liveInGroup(pid)).toEqual([]);
  });

  it('pause freezes a task from the page (its processes stopped or its cgroup frozen), resume lets it run to completion', async () => {
    const { stack, page } = await stackWithPage();
    // 60 steps of 0.1 s, each a progress line: it moves while it runs and stands still while it is paused.
    const script =
      'i=0; while [ $i -lt 60 ]; do i=$((i+1)); printf \'{"progress": 0.%02d, "message": "step %d"}\\n\' $i $i; sleep 0.1; done';
    const client = await DaemonClient.connect({ home: stack.home, autostart: false });
    cleanups.push(() => client.close());
    const { task } = (await client.request('TASK_REQUEST', {
      spec: { command: '/bin/sh', args: ['-c', script], name: 'sixty steps' },
    })) as { task: { id: string } };
    const id = task.id;
    // '' until the row is there.
    const message = () =>
      page.$eval(`#task-rows tr[data-id="${id}"] .message`, (el) => el.textContent ?? '').catch(() => '');
    await waitFor(async () => /^step \d+$/.test(await message()), 20_000, 'the first steps');
    const pid = await taskPid(stack.home, id);
    const states = await recordStates(page, id);

    await page.click(`#task-rows tr[data-id="${id}"] button.pause`);
    expect(await stateText(page, id)).toMatch(/pausing…|paused/);
    await waitForState(page, id, /⏸ paused/);
    expect((await states())[0]).toBe('pausing…');
    expect(await page.$eval('#status', (el) => el.textContent)).toMatch(new RegExp(`Task ${id} paused \\(`));
    await waitFor(() => liveInGroup(pid).every(isFrozen), 10_000, "the task's processes to be frozen");
    const frozenAt = await message();
    await sleep(1000); // nothing may move while it is paused
    expect(await message()).toBe(frozenAt);
    expect(liveInGroup(pid).length).toBeGreaterThan(0);
    expect(liveInGroup(pid).every(isFrozen)).toBe(true);
    // Only Resume is offered on a paused task.
    expect(await page.$eval(`#task-rows tr[data-id="${id}"] button.pause`, (el) => (el as HTMLElement).hidden)).toBe(
      true,
    );

    await page.click(`#task-rows tr[data-id="${id}"] button.resume`);
    expect(await stateText(page, id)).toMatch(/resuming…|running/);
    await waitForState(page, id, /▶ running|completed/);
    await waitForState(page, id, /✔ completed/, 60_000);
    expect(await message()).toBe('step 60');
    expect(liveInGroup(pid)).toEqual([]);
  }, 90_000);

  it('emergency stop with tasks running and queued: two clicks on one spot, every row ends, nothing left running', async () => {
    const { stack, page } = await stackWithPage(['--concurrency', '2', '--grace-ms', '1000']);
    const running = [await startTemplate(page, 7), await startTemplate(page, 4)];
    const queued = [await startTemplate(page, 8), await startTemplate(page, 9)];
    for (const id of running) await waitForState(page, id, /running/);
    for (const id of queued) expect(await stateText(page, id)).toMatch(/queued/);
    const pids = await Promise.all(running.map((id) => taskPid(stack.home, id)));

    await page.click('#stop-all');
    expect(await page.$eval('#stop-all', (el) => el.textContent)).toBe('Click again to stop 4 tasks');
    await page.click('#stop-all');
    for (const id of [...running, ...queued]) expect(await stateText(page, id)).toMatch(/stopping…|cancelled|killed/);
    await waitFor(
      async () => /Stopped 4 tasks in/.test((await page.$eval('#status', (el) => el.textContent)) ?? ''),
      20_000,
      'the confirmed stop',
    );
    const status = await page.$eval('#status', (el) => el.textContent);
    expect(status).toMatch(/2 not started/);
    for (const id of queued) await waitForState(page, id, /cancelled/);
    for (const id of running) await waitForState(page, id, /cancelled|killed/);
    for (const pid of pids) expect(liveInGroup(pid)).toEqual([]);
  });

  it('the daemon SIGKILLed and started again while the page is open: shown as down, then caught up', async () => {
    const { stack, page } = await stackWithPage();
    const id = await startTemplate(page, 7);
    await waitForState(page, id, /running/);
    const pid = await taskPid(stack.home, id);
    const firstDaemon = stack.daemon.child.pid;

    await stack.killDaemon();
    await page.waitForSelector('#daemon[data-up="false"]', { timeout: 20_000 });
    expect(await page.$eval('#daemon', (el) => el.textContent)).toMatch(/daemon not running since/);
    expect(await page.$eval('#start-daemon', (el) => (el as HTMLElement).hidden)).toBe(false);
    // A stop while it is down gets a clear answer, not silence. Clicked again after a second without
    // one, as a person would: on a busy machine the header's change (the start button appearing) can
    // move the row between the click's aim and the click.
    let clickedAt = 0;
    let shown = '';
    await waitFor(
      async () => {
        shown = (await page.$eval('#status', (el) => el.textContent)) ?? '';
        if (/DAEMON_DOWN/.test(shown)) return true;
        if (Date.now() - clickedAt > 1000) {
          clickedAt = Date.now();
          await page.click(`#task-rows tr[data-id="${id}"] button.kill`);
        }
        return false;
      },
      20_000,
      () => `the DAEMON_DOWN answer (the status line says ${JSON.stringify(shown)})`,
    );

    await stack.startDaemon();
    await page.waitForSelector('#daemon[data-up="true"]', { timeout: 20_000 });
    expect(await page.$eval('#daemon', (el) => el.textContent)).toContain(`pid ${stack.daemon.child.pid}`);
    expect(stack.daemon.child.pid).not.toBe(firstDaemon);
    // The new daemon's recovery settled the task the dead one ran; the page shows that without a reload.
    await waitForState(page, id, /interrupted/);
    await waitFor(() => !isAlive(pid), 10_000, 'the interrupted task to be gone');
    expect(liveInGroup(pid)).toEqual([]);
    // And the page works with the new daemon.
    const next = await startTemplate(page, 7);
    await waitForState(page, next, /running/);
  });

  it('refuses a page without the token, a foreign Origin and a foreign Host', async () => {
    const { stack, page } = await stackWithPage();
    const id = await startTemplate(page, 7);
    await waitForState(page, id, /running/);
    const port = stack.web.port;

    // No token: a browser context without the cookie.
    const stranger = await browser.createBrowserContext();
    cleanups.push(() => stranger.close());
    const strangerPage = await stranger.newPage();
    const noToken = await strangerPage.goto(`http://127.0.0.1:${port}/`);
    expect(noToken?.status()).toBe(401);
    expect(await strangerPage.evaluate(() => document.body.textContent)).toMatch(/no access token/);
    const noTokenEvents = await strangerPage.goto(`http://127.0.0.1:${port}/api/events`);
    expect(noTokenEvents?.status()).toBe(401);

    // A foreign Origin: another site on this machine, in the same browser (so the cookie is sent: same site).
    const evil = http.createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end(`<script>
        window.results = [];
        fetch('http://127.0.0.1:${port}/api/request', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"type":"STOP_ALL"}' })
          .then(() => results.push('no-cors sent'), (e) => results.push('no-cors ' + e));
        fetch('http://127.0.0.1:${port}/api/request', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{"type":"STOP_ALL"}' })
          .then((r) => results.push('cors ' + r.status), (e) => results.push('cors blocked'));
      </script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      evil.closeAllConnections();
      return new Promise((resolve) => evil.close(resolve));
    });
    const evilPort = (evil.address() as { port: number }).port;
    const evilPage = await browser.newPage();
    cleanups.push(() => evilPage.close());
    await evilPage.goto(`http://127.0.0.1:${evilPort}/`);
    await waitFor(
      () => evilPage.evaluate(() => (window as unknown as { results: string[] }).results.length === 2),
      10_000,
      "the foreign page's requests",
    );
    const results = await evilPage.evaluate(() => (window as unknown as { results: string[] }).results);
    expect(results).toContain('cors blocked');
    // The simple request reached the server, cookie and all, and was refused by the Origin check;
    // the preflighted one never got past its preflight (which carries no cookie).
    await waitFor(
      () =>
        stack.webLog.some(
          (line) =>
            line.includes(`refused POST /api/request (Origin http://127.0.0.1:${evilPort}`) &&
            line.endsWith('FOREIGN_ORIGIN'),
        ),
      10_000,
      `the refusal (log: ${stack.webLog.join(' | ')})`,
    );
    expect(stack.webLog.some((line) => line.startsWith('refused OPTIONS /api/request'))).toBe(true);

    // A foreign Host: what a DNS-rebinding page sends (its name resolves to 127.0.0.1), token and all.
    const rebound = await strangerPage.goto(`http://${REBIND_NAME}:${port}/?token=${stack.web.token}`);
    expect(rebound?.status()).toBe(403);
    expect(await strangerPage.evaluate(() => document.body.textContent)).toMatch(
      /is not allowed \(protection against DNS rebinding\)/,
    );

    // Nothing was stopped.
    expect(await stateText(page, id)).toMatch(/running/);
  });

  it('shows a task named like HTML, and log lines like HTML, as text; the log follows with no line lost or doubled', async () => {
    const { stack, page } = await stackWithPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const name = '<img src=x onerror=alert(1)>';
    const script =
      'echo "<script>alert(2)</script>"; i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo "line $i"; sleep 0.02; done; sleep 30';
    const client = await DaemonClient.connect({ home: stack.home, autostart: false });
    cleanups.push(() => client.close());
    const { task } = (await client.request('TASK_REQUEST', {
      spec: { command: '/bin/sh', args: ['-c', script], name },
    })) as { task: { id: string } };
    const id = task.id;
    await waitForState(page, id, /running/);
    expect(await page.$eval(`#task-rows tr[data-id="${id}"] td.name`, (el) => el.textContent)).toBe(name);
    expect(await page.$$eval('#task-rows img, #details img', (els) => els.length)).toBe(0);

    await page.click(`#task-rows tr[data-id="${id}"] td.name`);
    await page.waitForSelector('#details:not([hidden])');
    expect(await page.$eval('#details-title', (el) => el.textContent)).toBe(`Task ${id} · ${name}`);
    await page.waitForSelector('#details-attempts tr', { timeout: 20_000 });
    const lines = () => page.$eval('#details-log', (el) => (el.textContent ?? '').split('\n').filter(Boolean));
    await waitFor(async () => (await lines()).includes('line 150'), 30_000, 'the log to follow to line 150');
    const shown = await lines();
    expect(shown[0]).toBe('<script>alert(2)</script>');
    expect(await page.$$eval('#details script, #details-log *:not(span)', (els) => els.length)).toBe(0);
    // Lines fetched when the task was selected, then lines from the event stream: each once, in order.
    const numbers = shown.slice(1).map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));
    expect(numbers).toEqual(numbers.map((_n, k) => k + 1));
    expect(dialogs).toEqual([]);
  });
});
