/** Web page test helpers: Debian's Chromium driven by puppeteer-core, a daemon child process with a web server on it. */
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../../bench/lib/browser.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { defaultTemplates } from '../../src/tasks/templates.js';
import { spawnDaemon, tempHome } from '../daemon/helpers.js';
import { waitFor } from '../helpers.js';

/** Headless Chromium; `args` adds flags (e.g. --host-resolver-rules). */
export const launchBrowser = (args: string[] = []): Promise<Browser> => launchChromium(args);

export interface Stack {
  home: string;
  /** What the web server logged (refusals among it). */
  webLog: string[];
  web: WebServer;
  daemon: { child: ChildProcess; output: () => string; exited: Promise<number | null> };
  /** SIGKILLs the daemon (its tasks' groups are killed by the next daemon's recovery, or by the orphan guard). */
  killDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  close(): Promise<void>;
}

/** A daemon in a child process (so it can be SIGKILLed) and a web server in this process, on a fresh home. */
export async function startStack(daemonArgs: string[] = ['--concurrency', '2', '--grace-ms', '3000']): Promise<Stack> {
  const { home, cleanup } = tempHome();
  let daemon = await spawnDaemon(home, daemonArgs);
  const webLog: string[] = [];
  const web = await startWebServer({
    home,
    port: 0,
    autostart: false,
    templates: await defaultTemplates(),
    log: (line) => webLog.push(line),
  });
  const stack: Stack = {
    home,
    webLog,
    web,
    get daemon() {
      return daemon;
    },
    async killDaemon() {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    },
    async startDaemon() {
      daemon = await spawnDaemon(home, daemonArgs);
    },
    async close() {
      await web.close();
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
        daemon.child.kill('SIGTERM');
        await daemon.exited;
      }
      cleanup();
    },
  };
  return stack;
}

/** Opens the printed address (token in it) and waits until the page shows the daemon as up. */
export async function openPage(browser: Browser, web: WebServer): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 800 });
  await page.goto(web.url);
  await page.waitForSelector('#daemon[data-up="true"]', { timeout: 20_000 });
  return page;
}

/** The text of a task's state cell. */
export function stateText(page: Page, taskId: string): Promise<string | null> {
  return page.$eval(`#task-rows tr[data-id="${taskId}"] .state-text`, (el) => el.textContent).catch(() => null);
}

export async function waitForState(page: Page, taskId: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return waitFor(
    async () => {
      const text = await stateText(page, taskId);
      return text !== null && pattern.test(text) ? text : undefined;
    },
    timeoutMs,
    `task ${taskId}'s row to read ${pattern}`,
  );
}

/** Stopped by SIGSTOP (state T), or in a frozen cgroup (cgroup.freeze: shown sleeping, cgroup.events says frozen). */
export function isFrozen(process: { pid: number; state: string }): boolean {
  if (process.state === 'T') return true;
  try {
    // The unified hierarchy is at /sys/fs/cgroup, or at /sys/fs/cgroup/unified on a hybrid machine.
    const mount = /^\S+ (\S+) cgroup2 /m.exec(readFileSync('/proc/mounts', 'utf8'))?.[1];
    const path = /^0::(.*)$/m.exec(readFileSync(`/proc/${process.pid}/cgroup`, 'utf8'))?.[1];
    if (mount === undefined || path === undefined) return false;
    return /^frozen 1$/m.test(readFileSync(`${mount}${path}/cgroup.events`, 'utf8'));
  } catch {
    return false;
  }
}
